"""Partition definitions shared by every domain folder, and the decorator block of partitioned assets.

Rolling windows, not fixed dates: the ten-minute set covers the last ``SMX_SCORES_WINDOW_DAYS``
days (default 90: 12,960 keys) and the daily set the last ``SMX_DAILY_WINDOW_DAYS`` (default
730), both computed when the code location loads, so their size stays bounded however long the
deployment runs (a fixed start gained 52,560 ten-minute keys a year; Dagster slows down past
~100,000). Neither starts before ``SMX_PARTITIONS_START`` when it is set (the deployment's first
day of data, so the UI lists no days that can never hold data). Older history is scored with
``smx score --from --to`` (``retro_scoring_job``); see ``smx_assets.domain.partition_window``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.domain.partition_window import partition_windows
from smx_assets.domain.time_grid import BUCKET_CRON, PARTITION_KEY_FORMAT

_POLICY = settings.current().partitions
SCORES_WINDOW_DAYS = _POLICY.scores_window_days
DAILY_WINDOW_DAYS = _POLICY.daily_window_days

WINDOWS = partition_windows(
    dt.datetime.now(dt.timezone.utc), SCORES_WINDOW_DAYS, DAILY_WINDOW_DAYS,
    dt.date.fromisoformat(_POLICY.start) if _POLICY.start else None,
)
PARTITIONS_START = WINDOWS.daily_start.isoformat()  # first daily partition
TEN_MINUTE_START = WINDOWS.ten_minute_start.isoformat()  # first ten-minute partition (its day)

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")

ten_minute_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule=BUCKET_CRON,
    # A datetime, not the string: a string start must match ``fmt`` (Dagster 1.13 rejects "2026-09-01").
    start=dt.datetime.combine(WINDOWS.ten_minute_start, dt.time(), dt.timezone.utc),
    fmt=PARTITION_KEY_FORMAT,
    timezone="UTC",
)


def partition_days(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    """The UTC days of the run's partition range (one for a normal run, N for a single-run backfill)."""
    window = context.partition_time_window
    start = pd.Timestamp(window.start).tz_convert("UTC")
    end = pd.Timestamp(window.end).tz_convert("UTC")
    return list(pd.date_range(start, end, freq="D", inclusive="left"))


def per_partition_metadata(context: dg.AssetExecutionContext, by_key: Mapping[str, Mapping[str, Any]]) -> None:
    """Give each partition of the run its own metadata (row counts, paths, buckets).

    Why: a single-run backfill materialises N partitions from one ``MaterializeResult``, and
    Dagster copies that result's metadata onto every partition's event, so each day showed the
    whole range's figures. ``add_asset_metadata(partition_key=...)`` is merged over the result's
    metadata for that partition's event only (``execute_step``: run-level first, then the
    partition's). Keys of partitions outside the run are ignored (a day skipped inside).
    """
    keys = set(context.partition_keys)
    for key, metadata in by_key.items():
        if key in keys:
            context.add_asset_metadata(dict(metadata), partition_key=key)


def partitioned_asset(partitions_def: dg.PartitionsDefinition, *, group_name: str, owners: list[str],
                      **kwargs: Any) -> Any:
    """``@dg.asset`` with the block every partitioned asset shares.

    Single-run backfill unless ``backfill_policy`` says otherwise (a range is one run that loops
    inside, so per-run overhead is paid once), the domain's group and owners. Everything else is
    passed on to ``dg.asset``.
    """
    kwargs.setdefault("backfill_policy", dg.BackfillPolicy.single_run())
    return dg.asset(partitions_def=partitions_def, group_name=group_name, owners=owners, **kwargs)
