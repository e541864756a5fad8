"""The daily run-retention schedule (03:17 UTC)."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.ops_health.jobs import dagster_run_retention

run_retention_schedule = dg.ScheduleDefinition(
    job=dagster_run_retention,
    cron_schedule="17 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 03:17 UTC, deletes finished Dagster runs older than 30 days (144 scoring runs a day "
                "would otherwise grow the run and event-log tables without bound).",
)
