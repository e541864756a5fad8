"""Chunk prediction writes that overlap the next chunk's features.

At 100,000 animals a bucket's 588,000 prediction rows cost PostgreSQL about 7 s of COPY, spent
in the database server while the scoring process waits. A scoring run computes its chunks one
after the other, so the wait was pure loss: :class:`PredictionWriter` hands each chunk's
replace to one background thread and lets the run go on with the next chunk's features on the
other core.

What stays as before:

* order: one worker thread, so writes run in submission order (a chunk re-scored at the end
  of a run replaces its first write, never the other way round);
* bounded memory: at most one write in flight; submitting the next one waits for it;
* failures: a failed write is raised in the run at the next submit or at :meth:`close`, and
  the run's alerts are written only after every prediction write has succeeded;
* SQLite writes synchronously (its single write lock would only make the main thread's
  look-ups wait instead).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import pandas as pd
from sqlalchemy.engine import Engine

from smx_assets.domain.scoring.outputs import ALL_ANIMALS, AnimalRange, replace_predictions

log = logging.getLogger(__name__)


class PredictionWriter:
    """``replace_predictions`` of a run's chunks, in order, beside the run (PostgreSQL).

    ``seconds``: time spent writing (in the worker); ``wait_seconds``: time the run waited for
    a write to finish (what overlapping did not hide)."""

    def __init__(self, engine: Engine, background: bool | None = None) -> None:
        self.engine = engine
        self.background = engine.dialect.name == "postgresql" if background is None else background
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smx-predictions") if self.background else None
        self._pending: Future[float] | None = None
        self.seconds = 0.0
        self.wait_seconds = 0.0

    def replace(self, predictions: pd.DataFrame, window_start: pd.Timestamp, window_end: pd.Timestamp,
                animals: AnimalRange = ALL_ANIMALS, farms: Sequence[int] | None = None) -> int:
        """Queue (or, without a background thread, do) one chunk's replace; returns the rows it writes."""
        if self._pool is None:
            self.seconds += _timed_replace(self.engine, predictions, window_start, window_end, animals, farms)
            return len(predictions)
        self.flush()
        self._pending = self._pool.submit(_timed_replace, self.engine, predictions, window_start, window_end,
                                          animals, farms)
        return len(predictions)

    def flush(self) -> None:
        """Wait for the write in flight; raises its error."""
        if self._pending is None:
            return
        t0 = time.perf_counter()
        try:
            self.seconds += self._pending.result()
        finally:
            self._pending = None
            self.wait_seconds += time.perf_counter() - t0

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        try:  # the run already failed: finish the write in flight, raise the run's own error
            self.close()
        except Exception:  # noqa: BLE001 - the run's error is the one raised; this one is logged
            log.exception("a prediction write failed as well")


def _timed_replace(engine: Engine, predictions: pd.DataFrame, window_start: pd.Timestamp,
                   window_end: pd.Timestamp, animals: AnimalRange, farms: Sequence[int] | None) -> float:
    t0 = time.perf_counter()
    replace_predictions(engine, predictions, window_start, window_end, animals, farms)
    return time.perf_counter() - t0
