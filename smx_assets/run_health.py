"""Dagster runs whose worker died are failed, not left STARTED.

Dagster's run monitoring (``run_monitoring`` in ``dagster.yaml``) asks the run launcher whether
a run's worker is alive, but the default launcher cannot answer (``supports_check_run_worker_health``
is False), so locally a ``kill -9``'d run stayed STARTED forever. :class:`PidCheckingRunLauncher`
is the default launcher plus that answer, from the worker's pid: the ``Started process for run
(pid: N)`` engine event Dagster writes for launched runs, or the ``smx/worker`` tag the CLI puts
on runs it executes in process. The daemon then marks a run whose worker is gone as FAILED
within ``poll_interval_seconds``. :func:`fail_dead_runs` does the same on demand (``smx demo``
calls it at start, as no daemon runs there).
"""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher

from smx_assets.domain.process_identity import ProcessId, current, is_gone

log = logging.getLogger(__name__)

WORKER_TAG = "smx/worker"  # host:pid:start ticks of the process executing the run in process


def worker_tag() -> dict[str, str]:
    """The tag naming this process as the run's worker (for ``execute_in_process`` runs)."""
    me = current()
    return {WORKER_TAG: f"{me.host}:{me.pid}:{me.started}"}


def run_worker(instance: dg.DagsterInstance, run: Any) -> ProcessId | None:
    """The process executing ``run``, when it can be known."""
    tag = run.tags.get(WORKER_TAG)
    if tag:
        host, _, rest = tag.partition(":")
        pid, _, started = rest.partition(":")
        if pid.isdigit():
            return ProcessId(host, int(pid), started)
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50).records
    for record in records:
        entry = record.event_log_entry
        if entry.message and entry.message.startswith("Started process for run (pid:"):
            pid_text = entry.message.split("pid:", 1)[1].strip(" ).")
            if pid_text.isdigit():
                # The default launcher starts workers on the code server's host: this one.
                return ProcessId(current().host, int(pid_text))
    return None


def worker_health(instance: dg.DagsterInstance, run: Any) -> CheckRunHealthResult:
    proc = run_worker(instance, run)
    if proc is None:
        return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no worker pid recorded for this run")
    if is_gone(proc):
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker (pid {proc.pid} on {proc.host}) is gone",
                                    run_worker_id=str(proc.pid))
    return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(proc.pid))


class PidCheckingRunLauncher(DefaultRunLauncher):
    """The default run launcher, able to tell run monitoring that a worker process is gone."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        return worker_health(self._instance, run)


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark runs STARTING/STARTED whose worker is gone as FAILED; their ids."""
    failed = []
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED,
                                                              dg.DagsterRunStatus.STARTING]))
    for run in runs:
        health = worker_health(instance, run)
        if health.status == WorkerStatus.FAILED:
            instance.report_run_failed(run, f"{health.msg}: marked failed")
            failed.append(run.run_id)
            log.warning("Dagster run %s (%s): %s, marked failed", run.run_id, run.job_name, health.msg)
    return failed
