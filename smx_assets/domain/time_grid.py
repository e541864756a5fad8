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


def utc_values(values: object) -> pd.api.extensions.ExtensionArray:
    """Timestamps as an aware UTC array without an index, for building frames column by column.

    Why not ``.to_numpy()``: on an aware series it returns an object array of ``Timestamp``s,
    and pandas then re-infers the dtype from 1.4 million Python objects; that was a third of
    the demo's training step (measured with py-spy). The extension array is a view, no copy.
    """
    return pd.to_datetime(values, utc=True).array  # type: ignore[union-attr]


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


def day_key(day: pd.Timestamp | str) -> str:
    """The daily partition key / feature file name of a day (``2026-09-01``)."""
    return pd.Timestamp(day).strftime(DAY_KEY_FORMAT)
