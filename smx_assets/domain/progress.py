"""Progress of long loops (days of features, buckets of a retro-score) for whoever is watching.

Domain code and assets call :func:`advance` once per unit of work; by default nothing listens,
so a run under ``dagster dev`` pays a dictionary lookup. ``smx demo`` registers a listener that
draws a progress bar on the terminal (see ``smx_assets.commands.console``): the runs execute
in-process there, so the listener sees the loop as it happens without Dagster's event stream
having to be printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (task, done, total, note) -> None
Listener = Callable[[str, int, int, str], None]
_listeners: list[Listener] = []


def advance(task: str, done: int, total: int, note: str = "") -> None:
    """Report that ``done`` of ``total`` units of ``task`` are finished."""
    for listener in list(_listeners):
        listener(task, done, total, note)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every :func:`advance` to ``listener`` inside the ``with`` block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
