"""The daily feature schedule: one partition a day, the day that just ended."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.features.jobs import daily_features_job

# Each tick (00:30 UTC) materialises the previous day's partition; 30 minutes of grace for
# late readings. STOPPED by default like the other schedules: switch it on in the UI.
daily_features_schedule = dg.build_schedule_from_partitioned_job(
    daily_features_job, name="daily_features_schedule", hour_of_day=0, minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Off by default (switch on for production): at 00:30 UTC, the daily feature assets of the "
                "day that just ended (animal_profiles, sensor_baselines, training_features).",
)
