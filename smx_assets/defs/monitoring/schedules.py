"""The daily monitoring schedule (02:00 UTC, the day that just ended)."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.monitoring.jobs import monitoring_job

monitoring_schedule = dg.build_schedule_from_partitioned_job(
    monitoring_job, name="monitoring_daily_schedule", hour_of_day=2, minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 02:00 UTC, monitoring of the day that just ended: drift report, alert volume, "
                "delayed-label performance, scoring operations and the alerts report.",
)

# The weekly retrain-anyway schedule is the training layer's ``weekly_training_schedule``
# (smx_assets/defs/training/jobs.py): one weekly schedule, not two.
