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
    values, n_art = _mask_artefacts(out)
    for col, v in values.items():
        out[col] = v
    out["n_artefacts"] = n_art
    return out


def _mask_artefacts(readings: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each signal as float64 with its out-of-range values set to NaN, and the number of such
    values per reading (shared by the pandas and the numpy bucketing paths)."""
    values, n_art = {}, np.zeros(len(readings), dtype="int64")
    for col, (lo, hi) in (("temp_c", TEMP_VALID), ("activity", ACTIVITY_VALID), ("ph", PH_VALID)):
        v = readings[col].to_numpy(dtype="float64", copy=True)
        bad = ~np.isnan(v) & ((v < lo) | (v > hi))
        n_art += bad
        v[bad] = np.nan
        values[col] = v
    return values, n_art


def bucketize_bolus(readings: pd.DataFrame) -> pd.DataFrame:
    """Bucket means per (animal, bucket): ``temp_c``, ``activity``, ``ph``, ``n_readings``, ``n_artefacts``.

    A bucket with two readings (jittered clocks) gets their mean; a bucket with none is absent
    here and becomes NaN (+ a missing indicator) on the grid. Readings longer than a bucket are
    spread over the buckets they cover first (:func:`spread_intervals`); ``n_readings`` is then
    the share of a reading each bucket holds.

    Most buckets hold exactly one reading (a bolus reports every 10 minutes), whose "mean" is the
    reading itself: those are taken over with numpy, and only the buckets with several readings
    go through the pandas group-by (:func:`_bucketize_pandas`, which gives the very same frame for
    all rows: ``smx_assets_tests/domain/features/test_buckets.py`` compares them bit for bit).
    """
    ts = readings["ts"]
    if len(readings) == 0 or not isinstance(ts.dtype, pd.DatetimeTZDtype) or str(ts.dtype.tz) != "UTC" \
            or readings["animal_id"].dtype != np.int64 or ts.isna().any():
        return _bucketize_pandas(readings)
    spread = spread_intervals(readings) if _needs_spread(readings) else None
    src = spread if spread is not None else readings
    ids = src["animal_id"].to_numpy(dtype="int64")
    unit = np.datetime_data(src["ts"].dtype.base)[0]
    ts_ns = to_ns(src["ts"])
    bucket = ts_ns - ts_ns % BUCKET_NS  # floor (numpy's % takes the divisor's sign)
    weight = src["weight"].to_numpy(dtype="float64") if spread is not None else np.ones(len(src))
    values, n_art = _mask_artefacts(src)
    n = len(ids)
    d_id, d_b = np.diff(ids), np.diff(bucket)
    if n > 1 and not ((d_id >= 0).all() and ((d_id > 0) | (d_b >= 0)).all()):
        order = np.lexsort((bucket, ids))  # stable: a bucket's readings keep their order
        ids, bucket, weight, n_art = ids[order], bucket[order], weight[order], n_art[order]
        values = {k: v[order] for k, v in values.items()}
        d_id, d_b = np.diff(ids), np.diff(bucket)
    first = np.ones(n, dtype=bool)
    first[1:] = (d_id != 0) | (d_b != 0)
    starts = np.flatnonzero(first)
    sizes = np.diff(np.append(starts, n))
    single = sizes == 1
    out_ids, out_b = ids[starts], bucket[starts]
    # a one-reading bucket's mean is the reading (+ 0.0: pandas' sum from 0.0 turns -0.0 into 0.0)
    cols = {k: v[starts] + 0.0 for k, v in values.items()}
    n_readings, n_artefacts = weight[starts] + 0.0, n_art[starts].copy()
    if not single.all():  # buckets with several readings: pandas' own group means and sums
        multi_rows = np.repeat(~single, sizes)
        frame = pd.DataFrame({"animal_id": ids[multi_rows], "bucket": bucket[multi_rows],
                              **{k: v[multi_rows] for k, v in values.items()},
                              "weight": weight[multi_rows], "n_artefacts": n_art[multi_rows]})
        g = frame.groupby(["animal_id", "bucket"], sort=True)
        means = g[["temp_c", "activity", "ph"]].mean()
        pos = np.flatnonzero(~single)  # the groups come out in key order, as ``starts`` are
        for k in cols:
            cols[k][pos] = means[k].to_numpy()
        n_readings[pos] = g["weight"].sum().to_numpy()
        n_artefacts[pos] = g["n_artefacts"].sum().to_numpy()
    b = pd.DatetimeIndex(out_b.view("datetime64[ns]")).tz_localize("UTC").as_unit(unit)
    return pd.DataFrame({"animal_id": out_ids, "bucket": b, **cols, "n_readings": n_readings,
                         "n_artefacts": n_artefacts})


def _needs_spread(readings: pd.DataFrame) -> bool:
    if "interval_s" not in readings.columns:
        return False
    return bool((readings["interval_s"].to_numpy(dtype="int64") >= 2 * (BUCKET_NS // 1_000_000_000)).any())


def _bucketize_pandas(readings: pd.DataFrame) -> pd.DataFrame:
    """:func:`bucketize_bolus` with one pandas group-by over every reading (any input)."""
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
