"""The plain-schedule alternative to the scoring sensor (STOPPED by default)."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.scoring.jobs import scoring_job

# The alternative to the sensor for teams that prefer a plain schedule: each tick scores the
# last completed bucket. It cannot see late data; the sensor re-scores those buckets.
scoring_schedule = dg.build_schedule_from_partitioned_job(
    scoring_job, name="scoring_schedule", default_status=dg.DefaultScheduleStatus.STOPPED
)
