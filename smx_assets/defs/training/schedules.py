"""The weekly retraining schedule."""

from __future__ import annotations

import dagster as dg

from smx_assets import settings
from smx_assets.defs.training.jobs import training_job

# STOPPED by default: a fresh clone or `dagster dev` has no training_features history, so a
# running schedule would fail every week until someone backfills; and a demo should not
# retrain behind its user's back. Production switches it on in the UI, or with
# SMX_TRAINING_SCHEDULE=running (the state then survives restarts in the instance).
weekly_training_schedule = dg.ScheduleDefinition(
    name="weekly_training_schedule",
    job=training_job,
    cron_schedule="0 3 * * 1",  # Monday 03:00 UTC, after the daily features of Sunday
    execution_timezone="UTC",
    default_status=(dg.DefaultScheduleStatus.RUNNING if settings.current().operations.training_schedule_running
                    else dg.DefaultScheduleStatus.STOPPED),
    description="Weekly retraining and promotion of every use case.",
)
