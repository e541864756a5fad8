"""Keep Python's cyclic garbage collector off the long-lived heap during a short, busy run.

A scoring run in a Dagster process starts with a large heap that will outlive it: loaded
definitions, imported libraries, the instance and the run context. The run itself allocates many
short-lived containers (frames, arrays, SQL rows), which trigger collections, and every
full collection re-walks that whole heap. Measured at 1,000 animals: 0.3-0.5 s of a 2.5 s run,
none of it in the same computation without Dagster (a smaller heap).

``gc.freeze()`` moves everything alive into a permanent generation the collector skips;
``gc.unfreeze()`` at the end returns it, so anything that did become garbage is still
collected afterwards (a long-lived process, e.g. tests or ``dagster dev``, does not leak).
Reference counting, which frees almost everything, is untouched.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[int]:
    """Freeze the current heap for the block; yields the number of objects frozen."""
    gc.freeze()
    try:
        yield gc.get_freeze_count()
    finally:
        gc.unfreeze()


def freeze_loaded_heap() -> int:
    """Freeze what a process holds after loading the code location (modules, definitions).

    Those objects live as long as the process, so the collector gains nothing by walking them;
    in a run worker this trims Dagster's own per-run work too (instance, event writes: 0.2-0.3 s
    a run). ``frozen_heap`` blocks unfreeze everything when they end, which only returns these
    objects to normal collection. Returns the number of objects frozen.
    """
    gc.freeze()
    return gc.get_freeze_count()


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (``VmHWM``) in MB; None where /proc is missing.

    Not ``ru_maxrss``: Linux carries it over fork+exec, so a run worker started by a big parent
    would report the parent's size. Recorded on every ``scores`` materialisation, so the memory a
    run (or shard) needs can be read from its metadata when sizing pods."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
