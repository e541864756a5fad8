"""No MLflow state that lies after a crash.

* **Runs left RUNNING.** Every training run is tagged with its process (host, pid, start time:
  :mod:`process_identity`). When the next training starts, :func:`end_dead_runs` ends the runs
  of that experiment still ``RUNNING`` whose process is certainly gone, as ``KILLED``, with a
  tag saying why. Runs of a live process, or of another host, are left alone.
* **Half-registered versions.** A version of ``smx-<uc>`` is created with
  ``smx.state=registering`` and set to ``ready`` only once registration *and* evaluation are
  complete (:func:`mark_ready`, after the challenger alias is set). A version whose process
  died in between stays ``registering``; :func:`mark_incomplete` (called with the sweep) says
  so as ``incomplete``, and :func:`refuse_unready` makes rollback refuse it unless forced.
  Versions registered before this tag existed carry none and count as ready.
* **Concurrent first runs.** Creating an MLflow SQLite store runs its schema migrations; two
  processes doing that at once collide (``table ... already exists``). :func:`store_lock`
  serialises the first opening per store with a file lock next to the database.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smx_assets.domain.process_identity import ProcessId, current, is_gone

log = logging.getLogger(__name__)

TAG_STATE = "smx.state"
REGISTERING, READY, INCOMPLETE = "registering", "ready", "incomplete"
TAG_ENDED_BY = "smx.ended_by"


class UnreadyVersionError(LookupError):
    """Rollback to a version that never completed registration and evaluation."""


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a new MLflow run."""
    return current().tags()


def end_dead_runs(client: Any, experiment_id: str) -> list[str]:
    """End the experiment's RUNNING runs whose process is gone (KILLED); their ids."""
    ended = []
    me = current()
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=500):
        proc = ProcessId.from_tags(dict(run.data.tags))
        if proc is None or proc == me or not is_gone(proc):
            continue
        client.set_tag(run.info.run_id, TAG_ENDED_BY,
                       f"process {proc.pid} on {proc.host} is gone; ended by {me.pid} when the next training started")
        client.set_terminated(run.info.run_id, "KILLED")
        ended.append(run.info.run_id)
        log.warning("MLflow run %s was left RUNNING by process %s on %s, which is gone: ended as KILLED",
                    run.info.run_id, proc.pid, proc.host)
    return ended


def mark_ready(client: Any, name: str, version: str) -> None:
    client.set_model_version_tag(name, str(version), TAG_STATE, READY)


def mark_incomplete(client: Any, name: str) -> list[str]:
    """Mark versions of ``name`` stuck in ``registering`` whose run is no longer RUNNING."""
    marked = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        if (mv.tags or {}).get(TAG_STATE) != REGISTERING:
            continue
        status = client.get_run(mv.run_id).info.status if mv.run_id else "FAILED"
        if status == "RUNNING":
            continue  # still being registered by a live process
        client.set_model_version_tag(name, mv.version, TAG_STATE, INCOMPLETE)
        marked.append(str(mv.version))
        log.warning("%s v%s never completed registration and evaluation (run %s): marked incomplete",
                    name, mv.version, status)
    return marked


def refuse_unready(mv: Any, *, force: bool = False) -> None:
    """Raise :class:`UnreadyVersionError` unless ``mv`` completed registration (or ``force``)."""
    state = (mv.tags or {}).get(TAG_STATE, READY)
    if state != READY and not force:
        raise UnreadyVersionError(
            f"{mv.name} v{mv.version} never completed registration and evaluation ({TAG_STATE}={state}): "
            "it cannot become champion; pass --force to restore it anyway")


@contextlib.contextmanager
def store_lock(tracking_uri: str, timeout_s: float = 300.0) -> Iterator[None]:
    """A file lock beside a local SQLite MLflow store (no-op for servers and other databases)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    import filelock

    db = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
    db.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(db) + ".lock", timeout=timeout_s):
        yield
