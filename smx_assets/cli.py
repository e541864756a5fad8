"""The ``smx`` command line: simulate, import, demo, rollback, explain, replay, serve.

Each sub-command lives in its own module under ``smx_assets/commands/`` and registers itself
through ``add_parser(subparsers)``; this file only assembles them, so adding a command never
means editing someone else's code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from smx_assets import settings

# Modules under smx_assets.commands that expose add_parser(subparsers) -> None.
# Each parser sets ``func`` (callable taking the parsed args, returning an exit code).
COMMAND_MODULES = [
    "simulate",
    "migrate",
    "demo",
    "score",
    "summary",
    "explain",
    "replay",
    "rollback",
    "importing",
    "alerts",
    "train",
    "serve",
]

# Commands that start work a killed earlier command may have left half-done: before they start,
# runs left STARTED by a process that no longer exists (``kill -9``, a lost container) are
# marked FAILED, whichever of them comes next (no daemon runs on a laptop).
CLEANS_STALE_RUNS = frozenset({"score", "train", "import", "demo"})


def build_parser() -> argparse.ArgumentParser:
    from smx_assets.commands._args import OneLineParser

    parser = OneLineParser(prog="smx", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"smx_assets.commands.{name}")
        module.add_parser(sub)
    return parser


MAX_LINE = 600  # a failure's line: what went wrong, not a statement with 12,000 parameters


def _message(exc: BaseException) -> str:
    """The error's own message: for a database statement that failed, the database's words
    (``value too long for type character varying(32)``), without the SQL and its parameters."""
    orig = getattr(exc, "orig", None)
    if orig is not None and getattr(exc, "statement", None) is not None:
        table = str(exc.statement).split(" INTO ", 1)[-1].split()[0] if " INTO " in str(exc.statement) else ""
        kind = "" if type(orig).__name__ == type(exc).__name__ else f"{type(orig).__name__}: "
        return f"{kind}{orig}".strip() + (f" (writing {table})" if table else "")
    return str(exc)


def clean_stale_runs() -> list[str]:
    """Mark the Dagster runs whose worker process is gone as FAILED (their ids).

    The instance is the one in ``DAGSTER_HOME`` (as the command will use); a home with no run
    storage yet (no ``dagster.yaml``, no ``history/``) holds no run at all and is left
    uncreated, so ``smx import`` into a fresh home still makes no Dagster files.
    """
    from smx_assets.commands.demo import _dagster_home, dagster_instance

    home = _dagster_home()
    if not (home / "dagster.yaml").exists() and not (home / "history").exists():
        return []
    from smx_assets.run_health import fail_dead_runs

    return fail_dead_runs(dagster_instance())


def disk_full(exc: BaseException) -> str | None:
    """One line for a full disk (``OSError`` ENOSPC, SQLite's ``database or disk is full``,
    also when wrapped by SQLAlchemy or Dagster), else None."""
    from smx_assets.commands.console import disk_full_line

    found, seen = None, set()
    while exc is not None and id(exc) not in seen:  # the innermost error says it plainest
        seen.add(id(exc))
        line = disk_full_line(type(exc).__name__, str(exc), getattr(exc, "errno", None), getattr(exc, "filename", None))
        found = line or found
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return found


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad arguments: one line, exit 2 (argparse, or the command's ``check``
    of what argparse cannot see alone). A failure while the command runs: one line naming the
    error, exit 1; ``--verbose`` adds the traceback; a full disk says so. All with credentials
    masked, as are all log records of the process.

    Order, so that nothing is done for a command that cannot run: arguments, settings, the
    command's own argument check, then the stale-run cleanup (:data:`CLEANS_STALE_RUNS`), then
    the command."""
    from smx_assets.commands._args import BadArgument, UserError
    from smx_assets.domain.redaction import install_log_redaction, redact, redact_exception

    install_log_redaction()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad argument (2, its line printed) or --help (0): a status, as for every outcome
        return exc.code if isinstance(exc.code, int) else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for "the full log: smx -v ..."
    # Libraries' INFO lines (alembic's "Context impl SQLiteImpl.", "Will assume transactional
    # DDL.", MLflow's) are not the command's output: they reach standard error only with -v.
    # The commands print what they have to say; warnings always show.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # Every variable's type and range, before any command does work (and before it creates anything).
        settings.Settings.from_env(create_home=False)
    except settings.SettingsError as exc:
        print(f"smx: {redact(str(exc))}", file=sys.stderr)
        return 2
    try:
        check = getattr(args, "check", None)
        if check is not None:
            check(args)
        if args.command in CLEANS_STALE_RUNS:
            clean_stale_runs()
        return int(args.func(args) or 0)
    except BadArgument as exc:
        print(f"smx {args.command}: {' '.join(redact(str(exc)).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"smx {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place every command's failure is worded
        redact_exception(exc)
        if args.verbose:
            import traceback

            print(redact("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
        full = None if isinstance(exc, UserError) else disk_full(exc)
        what = full or (str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {_message(exc)}")
        line = " ".join(redact(what).split())  # one line, whatever the library put in
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE] + " ..."
        hint = "" if args.verbose or full or isinstance(exc, UserError) else " (--verbose shows the traceback)"
        print(f"smx {args.command}: {line}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
