"""What ``smx demo`` prints: one line per step with its figures, progress bars, nothing else.

Dagster's event stream (``STEP_OUTPUT``, ``ASSET_MATERIALIZATION`` ... one line per event) is
what a person debugging a run wants and what a person following the demo does not: it stays in
the run's event log (the UI shows it) and reaches the terminal only with ``smx -v demo``.
Warnings always reach the terminal; the demo is meant to have none, so one showing up is news.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

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
