"""Health and housekeeping jobs: ``topology_smoke`` (touch every store) and ``dagster_run_retention``."""

import datetime as dt

import dagster as dg

from smx_assets.defs.ops_health.assets import platform_health

topology_smoke = dg.define_asset_job(
    "topology_smoke",
    selection=[platform_health],
    # One process: a smoke run should measure the platform, not per-step process start-up.
    executor_def=dg.in_process_executor,
    tags={"smx/run_kind": "health"},
    description="Touch every store from a real run worker (deployment and topology smoke test).",
)


class RunRetentionConfig(dg.Config):
    keep_days: int = 30
    max_deletes: int = 5000  # bounded so one tick never holds the instance DB for long


@dg.op(tags={"smx/run_kind": "housekeeping"})
def delete_old_runs(context: dg.OpExecutionContext, config: RunRetentionConfig) -> int:
    """Delete finished runs (and their event logs) created more than ``keep_days`` ago."""
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=config.keep_days)
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            created_before=cutoff,
            statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
                      dg.DagsterRunStatus.CANCELED],
        ),
        limit=config.max_deletes,
        ascending=True,
    )
    for record in records:
        context.instance.delete_run(record.dagster_run.run_id)
    context.log.info("deleted %d runs created before %s", len(records), cutoff.isoformat())
    return len(records)


@dg.job(executor_def=dg.in_process_executor, tags={"smx/run_kind": "housekeeping"})
def dagster_run_retention() -> None:
    """Keep the run/event-log tables bounded (144 scoring runs a day)."""
    delete_old_runs()
