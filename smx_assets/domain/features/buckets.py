"""10-minute bucketing and the animals x buckets grid every other feature module works on.

Why a dense grid: boluses report every ~10 minutes, so after bucketing each animal has (at
most) one value per bucket. Laying the values out as a 2-D ``(animal, bucket)`` array turns
trailing windows, drinking detection and baseline look-ups into vectorised numpy slicing, and,
crucially for training/serving parity, makes "the trailing window of bucket t" the *same
array slice* whether the grid was built for a whole day (training) or for one bucket (serving).

Artefacts seen in real exports (0 °C, 98.98 °C, pH 26) are dropped here and counted, so they
never reach a mean and are never silently turned into numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smx_assets.domain.time_grid import BUCKET, floor_bucket, utc

BUCKET_NS: int = int(BUCKET.value)

# Physiologically possible ranges. Drinking can pull the reticulum down to ~30 °C, so the lower
# temperature bound is generous; 0 °C and 98.98 °C (sensor error codes) fall outside.
TEMP_VALID = (25.0, 44.0)
PH_VALID = (3.5, 9.0)
ACTIVITY_VALID = (0.0, 1e6)


def to_ns(ts: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of an aware or naive-UTC datetime series, any resolution."""
    idx = pd.DatetimeIndex(ts)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("ns").asi8


def bucket_range(start: pd.Timestamp | str, end: pd.Timestamp | str) -> pd.DatetimeIndex:
    """Bucket starts in the half-open range ``[start, end)``; ``start`` is floored to a bucket."""
    s, e = floor_bucket(start), utc(end)
    return pd.date_range(s, e, freq=BUCKET, inclusive="left", tz="UTC")


def spread_intervals(readings: pd.DataFrame) -> pd.DataFrame:
    """Readings that summarise more than one bucket, laid over every bucket they cover.

    A neck collar reports one activity count per 2 hours (``interval_s`` 7200). On the
    10-minute grid that is 2 hours of activity: 12 buckets, each with a twelfth of the count
    (the activity rate per 10 minutes, so a 2-hour window sums to the reading and ratios to the
    cow's own baseline are unchanged), each weighing 1/12 of a reading in ``n_readings``.
    Neither 12 readings (12x the activity) nor one 10-minute reading (11 empty buckets, so a
    heat would flicker on and off every 10 minutes). Temperature and pH, being levels, are
    copied. Readings of 10 minutes or less (a bolus) pass unchanged, with weight 1.
    """
    out = readings.copy()
    interval = (out["interval_s"].to_numpy(dtype="int64") if "interval_s" in out.columns
                else np.full(len(out), BUCKET_NS // 1_000_000_000, dtype="int64"))
    n = np.maximum(1, interval // (BUCKET_NS // 1_000_000_000))
    out["weight"] = 1.0
    if (n == 1).all():
        return out
    rep = np.repeat(np.arange(len(out)), n)
    spread = out.iloc[rep].reset_index(drop=True)
    first = np.repeat(np.cumsum(n) - n, n)
    step = np.arange(len(rep)) - first
    spread["ts"] = spread["ts"] + pd.to_timedelta(step * BUCKET_NS, unit="ns")
    share = 1.0 / n[rep]
    spread["activity"] = spread["activity"].to_numpy(dtype="float64") * share
    spread["weight"] = share
    return spread


def clean_bolus(readings: pd.DataFrame) -> pd.DataFrame:
    """Set out-of-range values to NaN and count them per reading in ``n_artefacts``.

    Per-field: a 98.98 °C temperature says nothing about that reading's activity, so only the
    offending field is discarded.
    """
    cols = ["animal_id", "ts", "temp_c", "activity", "ph"] + [c for c in ("weight",) if c in readings.columns]
    out = readings[cols].copy()
    n_art = np.zeros(len(out), dtype="int64")
    for col, (lo, hi) in (("temp_c", TEMP_VALID), ("activity", ACTIVITY_VALID), ("ph", PH_VALID)):
        values = out[col].to_numpy(dtype="float64", copy=True)
        bad = ~np.isnan(values) & ((values < lo) | (values > hi))
        n_art += bad
        values[bad] = np.nan
        out[col] = values
    out["n_artefacts"] = n_art
    return out


def bucketize_bolus(readings: pd.DataFrame) -> pd.DataFrame:
    """Bucket means per (animal, bucket): ``temp_c``, ``activity``, ``ph``, ``n_readings``, ``n_artefacts``.

    A bucket with two readings (jittered clocks) gets their mean; a bucket with none is absent
    here and becomes NaN (+ a missing indicator) on the grid. Readings longer than a bucket are
    spread over the buckets they cover first (:func:`spread_intervals`); ``n_readings`` is then
    the share of a reading each bucket holds.
    """
    clean = clean_bolus(spread_intervals(readings))
    clean["bucket"] = clean["ts"].dt.floor(BUCKET)
    g = clean.groupby(["animal_id", "bucket"], sort=True)
    out = g[["temp_c", "activity", "ph"]].mean()
    out["n_readings"] = g["weight"].sum()
    out["n_artefacts"] = g["n_artefacts"].sum()
    return out.reset_index()


@dataclass
class Grid:
    """Dense ``(animal, bucket)`` arrays; ``buckets[j]`` is the start of column ``j``."""

    animal_ids: np.ndarray  # int64, sorted
    buckets: pd.DatetimeIndex  # regular 10-minute, UTC
    values: dict[str, np.ndarray]  # name -> float64 array (n_animals, n_buckets)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.animal_ids), len(self.buckets))


def to_grid(
    frame: pd.DataFrame,
    animal_ids: np.ndarray,
    buckets: pd.DatetimeIndex,
    columns: list[str],
    id_col: str = "animal_id",
    bucket_col: str = "bucket",
    fill: float = np.nan,
) -> Grid:
    """Scatter a long ``(id, bucket, values...)`` frame onto a dense grid; absent cells get ``fill``.

    Rows for ids or buckets outside the grid are ignored (the caller decides the range).
    """
    ids = np.asarray(animal_ids, dtype="int64")
    n_a, n_b = len(ids), len(buckets)
    values = {c: np.full((n_a, n_b), fill, dtype="float64") for c in columns}
    if len(frame) and n_a and n_b:
        a_idx = np.searchsorted(ids, frame[id_col].to_numpy(dtype="int64"))
        a_idx_c = np.minimum(a_idx, n_a - 1)
        ok_a = (a_idx < n_a) & (ids[a_idx_c] == frame[id_col].to_numpy(dtype="int64"))
        start_ns = buckets[0].value
        b_off = to_ns(frame[bucket_col]) - start_ns
        b_idx = b_off // BUCKET_NS
        ok = ok_a & (b_off >= 0) & (b_idx < n_b) & (b_off % BUCKET_NS == 0)
        ai, bi = a_idx[ok], b_idx[ok]
        for c in columns:
            values[c][ai, bi] = frame[c].to_numpy(dtype="float64")[ok]
    return Grid(animal_ids=ids, buckets=buckets, values=values)
