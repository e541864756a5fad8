"""Partition definitions shared by every domain folder.

The start date is one setting (``SMX_PARTITIONS_START``) because the ten-minute partition set
grows by 52,560 keys a year and Dagster's UI and backfill daemon slow down past ~100k: a
deployment moves the start forward when it archives old scores. Simulated demo herds end at
"now", so the default start only has to be older than the longest simulated history.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

PARTITIONS_START = os.environ.get("SMX_PARTITIONS_START", "2026-09-01")

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")

ten_minute_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="*/10 * * * *",
    # A datetime, not the string: a string start must match ``fmt`` (Dagster 1.13 rejects "2026-09-01").
    start=dt.datetime.fromisoformat(PARTITIONS_START).replace(tzinfo=dt.timezone.utc),
    fmt="%Y-%m-%d-%H:%M",
    timezone="UTC",
)
