"""The time grid every layer shares: the ten-minute bucket, the partition key, UTC, days.

Why one module: the bucket length was written in five places and the partition key format in
three; a change in one of them would silently misalign scoring, features and the simulator.
Pure pandas, imported by the sensor stores upwards (it imports nothing of the project).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

BUCKET = pd.Timedelta(minutes=10)
BUCKET_MINUTES = 10
BUCKET_FREQ = "10min"
BUCKET_CRON = "*/10 * * * *"  # the ten-minute partitions' and the live simulation's cadence
BUCKETS_PER_DAY = 144
DAY = pd.Timedelta(days=1)
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"  # Dagster ten-minute partition keys
DAY_KEY_FORMAT = "%Y-%m-%d"  # Dagster daily partition keys and feature file names


def utc(value: dt.datetime | pd.Timestamp | str) -> pd.Timestamp:
    """Normalise to an aware UTC timestamp; naive input is taken to be UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_series(values: object) -> object:
    """``pd.to_datetime(values, utc=True)``, without its cost on a series that is already datetime.

    Why: ``to_datetime`` samples the values as Python ``Timestamp``s to decide whether to cache
    them, even for a ``datetime64`` series: 4-6 ms a call, 172 calls in one 100,000-animal scoring
    run (profile features and the alert policy, per chunk): ~0.7 s. A datetime series is only
    localised (naive: taken as UTC) or converted; anything else goes through ``to_datetime``.
    """
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    return pd.to_datetime(values, utc=True)


def utc_values(values: object) -> pd.api.extensions.ExtensionArray:
    """Timestamps as an aware UTC array without an index, for building frames column by column.

    Why not ``.to_numpy()``: on an aware series it returns an object array of ``Timestamp``s,
    and pandas then re-infers the dtype from 1.4 million Python objects; that was a third of
    the demo's training step (measured with py-spy). The extension array is a view, no copy.
    """
    return utc_series(values).array  # type: ignore[union-attr]


def floor_bucket(ts: pd.Timestamp | str) -> pd.Timestamp:
    """The start of the 10-minute bucket containing ``ts`` (UTC): 14:01:30 -> 14:00, 14:10 -> 14:10."""
    return utc(ts).floor(BUCKET)


def bucket_start(ts: pd.Series | pd.Timestamp) -> pd.Series | pd.Timestamp:
    """The 10-minute bucket a reading belongs to (Series or scalar, timezone kept): 14:01:30 -> 14:00."""
    return ts.dt.floor(BUCKET_FREQ) if isinstance(ts, pd.Series) else ts.floor(BUCKET_FREQ)


def day_start(day: pd.Timestamp | str) -> pd.Timestamp:
    """Midnight UTC of the day containing ``day``."""
    return utc(day).floor("D")


def partition_key(bucket: pd.Timestamp) -> str:
    """The ten-minute partition key of a bucket start (``2026-09-01-14:00``)."""
    return utc(bucket).strftime(PARTITION_KEY_FORMAT)


PARTITION_LABEL_MAX = 32  # scoring_lineage.partition_key / alerts.partition_key: VARCHAR(32)


def range_label(first_key: str, last_key: str) -> str:
    """The label of a run over ten-minute partitions ``first_key..last_key``, as stored on its
    scoring lineage rows and alerts (``..`` marks a retro-scored range; monitoring tells live runs by it).

    At most :data:`PARTITION_LABEL_MAX` characters: two whole keys are 34, which PostgreSQL
    refused (``value too long for type character varying(32)``) for every backfill. So the last
    key drops what it shares with the first: ``2026-12-01-00:00..23:50`` (one day),
    ``2026-12-01-00:00..12-03-23:50`` (several days; a range only moves forward).
    """
    if first_key == last_key:
        return first_key
    if first_key[:11] == last_key[:11]:  # same day: YYYY-MM-DD-
        return f"{first_key}..{last_key[11:]}"
    return f"{first_key}..{last_key[5:]}"


def day_key(day: pd.Timestamp | str) -> str:
    """The daily partition key / feature file name of a day (``2026-09-01``)."""
    return pd.Timestamp(day).strftime(DAY_KEY_FORMAT)
