"""A run's chunk features computed on a second core, handed back in chunk order.

With the scores out of PostgreSQL, a 100,000-animal run is mostly features: ten chunks of
~1 s each on one core, while the machine's other core idles (the InfluxDB fetch of the new
bucket is over after the first chunk). Here the first chunk is computed by the run itself (it
waits for the prefetched bucket, which then sits in the read cache's files), then a forked
worker computes the odd chunks while the run computes the even ones and scores every chunk in
order. Features are a pure function of the chunk (``compute_features`` per animal), so the
result is the same bit for bit, whichever process computed a chunk.

Fork, not spawn: the worker inherits the run's window (records, baselines, climate, the store
and its read cache) without pickling it; only the chunk's feature frame travels back. Where
fork is unavailable, or with one process, or a run of fewer than three chunks, everything
runs in the calling process as before.
"""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_TASK: Callable[[int], object] | None = None  # set before the worker forks; the worker calls it


def _run(k: int) -> object:
    assert _TASK is not None, "the feature worker was not forked from a run"
    return _TASK(k)


def in_chunk_order(compute: Callable[[int], T], n: int, processes: int,
                   after_fork: Callable[[], None] | None = None,
                   stats: dict[str, int] | None = None) -> Iterator[tuple[int, T]]:
    """``(k, compute(k))`` for ``k`` in ``0..n-1``, in that order, computed by ``processes``
    processes (the caller's and ``processes - 1`` forked workers; ``after_fork`` runs first in
    each worker: stores give up their inherited connections there). ``stats["worker_chunks"]``
    counts the chunks the workers computed."""
    global _TASK
    if processes <= 1 or n < 3 or "fork" not in multiprocessing.get_all_start_methods():
        for k in range(n):
            yield k, compute(k)
        return
    yield 0, compute(0)
    workers = min(processes - 1, n // 2)
    _TASK = compute
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=after_fork) as pool:
            theirs = {k: pool.submit(_run, k) for k in range(1, n) if k % (workers + 1) != 0}
            if stats is not None:
                stats["worker_chunks"] = len(theirs)
            for k in range(1, n):
                if k in theirs:
                    continue
                mine = compute(k)  # the caller's chunk, while the workers compute the ones before it
                for j in sorted(j for j in theirs if j < k):
                    yield j, theirs.pop(j).result()  # type: ignore[misc]
                yield k, mine
            for j in sorted(theirs):
                yield j, theirs.pop(j).result()  # type: ignore[misc]
    finally:
        _TASK = None


def worker_peak_rss_mb() -> float:
    """The largest peak RSS of a finished worker of this process (Linux: kilobytes)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


__all__ = ["in_chunk_order", "worker_peak_rss_mb"]
