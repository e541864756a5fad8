"""What the ``smx`` commands that run Dagster jobs print: one line per step with its figures,
progress bars, warnings, and a failed run as one line.

Dagster's event stream (``STEP_OUTPUT``, ``ASSET_MATERIALIZATION`` ... one line per event) is
what a person debugging a run wants and what a person following the demo does not: it stays in
the run's event log (the UI shows it) and reaches the terminal only with ``smx -v``.
Warnings always reach the terminal, one line each; the demo is meant to have none, so one
showing up is news. A failed run is not Dagster's ``STEP_FAILURE`` block with its stack trace
(60 lines for a wrong use case, 106 with two traces for a full disk) but one line from
:func:`run_failure_line`: the step, the error, the run id and ``smx -v ...`` for the full log.
Jobs get this through :func:`for_terminal`, which swaps Dagster's console logger for
:func:`terminal_logger` unless ``--verbose``.
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from smx_assets.commands._args import UserError
from smx_assets.domain import progress

# Dagster's default console logger, turned down to warnings unless --verbose.
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def configure_logging(verbose: bool) -> None:
    """INFO/DEBUG lines of our own modules only with --verbose; warnings always."""
    level = logging.DEBUG if verbose else logging.WARNING
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        handler.setLevel(level)
    # MLflow installs its own stderr handler and logs INFO ("Validating input example ...",
    # "Creating initial MLflow database tables ...") through it, past the root logger.
    logging.getLogger("mlflow").setLevel(logging.INFO if verbose else logging.WARNING)


def run_config(verbose: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run config with the console logger quiet (unless verbose) merged into ``extra``."""
    out = dict(extra or {})
    if not verbose:
        out.update(QUIET_LOGGERS)
    return out


class Steps:
    """Numbered steps, each one line ``[n/N] name: figures (seconds)``, with a bar while busy.

    A bar appears only when the step reports progress (:func:`smx_assets.domain.progress.advance`)
    and only on a terminal; piped output (CI logs) gets the step lines alone.
    """

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total, self.n = total, 0
        self.stream = stream or sys.stdout
        self.t_start = time.perf_counter()
        self.timings: dict[str, float] = {}
        self._bars: dict[str, tqdm] = {}

    def _listener(self, task: str, done: int, total: int, note: str) -> None:
        bar = self._bars.get(task)
        if bar is None:
            bar = tqdm(total=total, desc=f"      {task}", unit="", leave=False, file=self.stream,
                       disable=not getattr(self.stream, "isatty", lambda: False)(),
                       bar_format="{desc} {bar} {n_fmt}/{total_fmt} {postfix} [{elapsed}<{remaining}]")
            self._bars[task] = bar
        bar.total = total
        bar.n = done
        if note:
            bar.set_postfix_str(note, refresh=False)
        bar.refresh()

    def run(self, name: str, fn: Callable[..., Any], *args: Any,
            figures: Callable[[Any], str] | None = None, **kwargs: Any) -> Any:
        """Run ``fn``; print the step's line with ``figures(result)`` when it is done."""
        self.n += 1
        t0 = time.perf_counter()
        try:
            with progress.listening(self._listener):
                out = fn(*args, **kwargs)
        finally:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
        seconds = time.perf_counter() - t0
        self.timings[name] = seconds
        detail = figures(out) if figures else ""
        print(f"[{self.n}/{self.total}] {name}{': ' + detail if detail else ''} ({seconds:.0f} s)",
              file=self.stream, flush=True)
        return out

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start


# ------------------------------------------------------------------ Dagster's output on the terminal

FAILURE_EVENTS = frozenset({"STEP_FAILURE", "PIPELINE_FAILURE", "RUN_FAILURE"})


class RunFailed(UserError):
    """A Dagster run the command started failed; the message is :func:`run_failure_line`'s."""


class _TerminalHandler(logging.Handler):
    """Warnings and errors of a run as one line each; the failure events themselves are left to
    :func:`run_failure_line` (their text is the stack trace), the rest to the event log."""

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        if event is not None and getattr(event, "event_type_value", None) in FAILURE_EVENTS:
            return
        step = meta.get("step_key") if isinstance(meta, dict) else None
        text = str(meta.get("orig_message") or record.getMessage()) if isinstance(meta, dict) else record.getMessage()
        line = " ".join(text.split())[:400]
        print(f"      {record.levelname.lower()}: {step + ': ' if step else ''}{line}", file=sys.stderr, flush=True)


def _terminal_logger_fn(init_context: Any) -> logging.Logger:
    logger = logging.Logger("smx.dagster", level=init_context.logger_config["log_level"])
    logger.addHandler(_TerminalHandler())
    return logger


def terminal_logger() -> Any:
    """The ``console`` logger of a quiet run (a Dagster ``LoggerDefinition``; built on call so
    that importing this module does not import Dagster)."""
    import dagster as dg

    return dg.logger(dg.Field({"log_level": dg.Field(str, is_required=False, default_value="WARNING"),
                               "name": dg.Field(str, is_required=False, default_value="smx")}))(_terminal_logger_fn)


def for_terminal(job: Any, verbose: bool, run_config: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """``job`` with :func:`terminal_logger` as its ``console`` logger and the run config that
    selects it (merged into ``run_config``), unless ``verbose``: then Dagster's own logger, the
    whole event stream. The job is otherwise the same: nothing in the definitions changes.

    Both are needed: a run config that names no logger gets Dagster's default console logger
    (``DEBUG``, every event, failures with their stack trace) whatever the job's loggers."""
    if verbose:
        return job, dict(run_config or {})
    return job.with_logger_defs({"console": terminal_logger()}), run_config_quiet(run_config)


def run_config_quiet(run_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``run_config`` with the console logger at ``WARNING``."""
    out = dict(run_config or {})
    out.update(QUIET_LOGGERS)
    return out


def disk_full_line(kind: str, message: str, errno: int | None = None, filename: str | None = None) -> str | None:
    """One line for a full disk, else None: ``OSError`` ENOSPC (errno 28) or SQLite's
    ``database or disk is full``, whichever library reports it."""
    text = " ".join(str(message).split())
    if errno != 28 and "No space left on device" not in text and "disk is full" not in text and "Errno 28" not in text:
        return None
    if filename and str(filename) not in text:
        text += f": {filename}"
    return (f"the disk is full ({kind}: {text[:300]}): free space where the stores live (SMX_HOME, "
            "SMX_FEATURES_PATH, DAGSTER_HOME) and rerun")


def run_failure_line(result: Any, argv: list[str] | None = None) -> str:
    """A failed run's first step failure as one line: the step, the error (a ``dg.Failure``'s
    description, else the root cause's type and message; a full disk said so), the run id and
    the command that shows the full log."""
    step, what = "?", "see the run's event log"
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is None:
            continue
        step = event.step_key or "?"
        if data.user_failure_data and data.user_failure_data.description:
            what = data.user_failure_data.description
        else:
            err = data.error
            while err is not None and err.cause is not None:
                err = err.cause
            if err is not None:
                message = err.message.removeprefix("dagster._core.definitions.events.Failure: ")
                kind = err.cls_name or "error"
                what = disk_full_line(kind, message.removeprefix(f"{kind}: ")) or " ".join(message.split())
        break
    what = " ".join(str(what).split())[:400]
    rerun = "smx -v " + shlex.join(argv) if argv else "smx -v ..."
    return f"step {step} of run {result.run_id} failed: {what} (the full log: {rerun}, or the run in the Dagster UI)"
