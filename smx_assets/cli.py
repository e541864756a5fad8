"""The ``smx`` command line: simulate, import, demo, rollback, explain, serve.

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
    "rollback",
    "importing",
    "alerts",
    "train",
    "serve",
]


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


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad arguments: one line, exit 2 (argparse). A failure while the
    command runs: one line naming the error, exit 1; ``--verbose`` adds the traceback. Both
    with credentials masked, as are all log records of the process."""
    from smx_assets.commands._args import UserError
    from smx_assets.domain.redaction import install_log_redaction, redact, redact_exception

    install_log_redaction()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # Every variable's type and range, before any command does work (and before it creates anything).
        settings.Settings.from_env(create_home=False)
    except settings.SettingsError as exc:
        print(f"smx: {redact(str(exc))}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"smx {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place every command's failure is worded
        redact_exception(exc)
        if args.verbose:
            import traceback

            print(redact("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
        what = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {_message(exc)}"
        line = " ".join(redact(what).split())  # one line, whatever the library put in
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE] + " ..."
        hint = "" if args.verbose or isinstance(exc, UserError) else " (--verbose shows the traceback)"
        print(f"smx {args.command}: {line}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
