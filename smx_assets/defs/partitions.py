"""Partition definitions shared by every domain folder, and the decorator block of partitioned assets.

The start date is one setting (``SMX_PARTITIONS_START``) because the ten-minute partition set
grows by 52,560 keys a year and Dagster's UI and backfill daemon slow down past ~100k: a
deployment moves the start forward when it archives old scores. Simulated demo herds end at
"now", so the default start only has to be older than the longest simulated history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.domain.time_grid import BUCKET_CRON, PARTITION_KEY_FORMAT

PARTITIONS_START = settings.current().partitions.start

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")

ten_minute_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule=BUCKET_CRON,
    # A datetime, not the string: a string start must match ``fmt`` (Dagster 1.13 rejects "2026-09-01").
    start=dt.datetime.fromisoformat(PARTITIONS_START).replace(tzinfo=dt.timezone.utc),
    fmt=PARTITION_KEY_FORMAT,
    timezone="UTC",
)


def partition_days(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    """The UTC days of the run's partition range (one for a normal run, N for a single-run backfill)."""
    window = context.partition_time_window
    start = pd.Timestamp(window.start).tz_convert("UTC")
    end = pd.Timestamp(window.end).tz_convert("UTC")
    return list(pd.date_range(start, end, freq="D", inclusive="left"))


def partitioned_asset(partitions_def: dg.PartitionsDefinition, *, group_name: str, owners: list[str],
                      **kwargs: Any) -> Any:
    """``@dg.asset`` with the block every partitioned asset shares.

    Single-run backfill (a range is one run that loops inside, so per-run overhead is paid
    once), the domain's group and owners. Everything else is passed on to ``dg.asset``.
    """
    return dg.asset(partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run(),
                    group_name=group_name, owners=owners, **kwargs)
