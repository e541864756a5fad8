"""The plain-schedule alternative to the scoring sensor (STOPPED by default)."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.scoring.jobs import scoring_job

# The alternative to the sensor for teams that prefer a plain schedule: each tick scores the
# last completed bucket. It cannot see late data; the sensor re-scores those buckets.
scoring_schedule = dg.build_schedule_from_partitioned_job(
    scoring_job, name="scoring_schedule", default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Alternative to scoring_sensor, not used: leave it stopped while the sensor runs (both "
                "would score every bucket twice). For teams that want a plain schedule: each tick scores "
                "the last completed bucket, without the sensor's late-data re-scoring.",
    tags={"smx/alternative_to": "scoring_sensor"},
)
