"""The daily storage-retention schedule (02:47 UTC, after the day's monitoring run)."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.retention.jobs import storage_retention_job

storage_retention_schedule = dg.ScheduleDefinition(
    job=storage_retention_job,
    cron_schedule="47 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 02:47 UTC, applies the retention settings (SMX_RETENTION_*_DAYS): drops old "
                "prediction partitions, raw readings and stored feature vectors; alerts and their "
                "lineage are kept. The storage_retention asset's metadata says what was removed.",
)
