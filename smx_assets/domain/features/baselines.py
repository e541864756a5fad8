"""Per-animal baselines, computed once a day and stored, so serving never rescans 10 days.

For target day ``D`` (UTC) the baseline uses only the drinking-free temperature and the
activity of days ``D-n .. D-1`` — never day ``D`` itself — so a feature for any bucket of ``D``
cannot see its own future. Three baselines:

* same hour of day: mean per (animal, hour 0–23) over the previous ``n`` days (default 10),
  because temperature and activity follow a strong daily rhythm, and "2 °C above this cow at
  this hour" is the signal, not "2 °C above the herd";
* a 10-day temperature mean per animal, which the classic fever rule (+0.8 °C) compares to;
* a 3-day temperature mean per animal (days ``D-3 .. D-1``): the *recent* level. Before calving
  the temperature rises over the last week and then drops, so "below the last three days" marks
  the drop where "below the 10-day mean" (which the rise pulls up only partly) does not.

Computation is split in two steps so a backfill over many days reads each day of readings
once: ``daily_hourly_stats`` (sums and counts of one day, small) and ``baselines_from_stats``
(combine the previous ``n`` days' stats). Hours with data on fewer than ``MIN_DAYS`` days give
NaN, which the pipeline turns into an explicit missing indicator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.features import drinking
from smx_assets.domain.features.buckets import bucket_range, bucketize_bolus, to_grid
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import BUCKET, day_start

N_DAYS = 10
MIN_DAYS = 3  # an hour-of-day baseline needs that hour on at least this many days
MIN_BUCKETS_10D = 144  # the 10-day mean needs at least a day's worth of clean buckets
RECENT_DAYS = 3
MIN_BUCKETS_RECENT = 144  # the 3-day mean too
DAY = pd.Timedelta(days=1)
CONTEXT = drinking.CONTEXT * BUCKET  # readings needed before a day to clean its first bucket

STATS_COLUMNS = ["animal_id", "day", "hour", "temp_sum", "temp_n", "act_sum", "act_n"]
BASELINE_COLUMNS = [
    "day", "animal_id", "hour",
    "temp_hod", "temp_hod_days", "activity_hod", "activity_hod_days",
    "temp_10d", "temp_10d_buckets", "temp_3d",
]


def clean_temperature_grid(readings: pd.DataFrame, animal_ids: np.ndarray, start: pd.Timestamp,
                           end: pd.Timestamp) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Buckets ``[start, end)`` with drinking-free temperature and activity (readings must cover ``start - CONTEXT``)."""
    grid_buckets = bucket_range(start - CONTEXT, end)
    g = to_grid(bucketize_bolus(readings), animal_ids, grid_buckets, ["temp_c", "activity"])
    flag = drinking.detect_drinking(g["temp_c"])
    clean = drinking.remove_drinking(g["temp_c"], flag)
    k = drinking.CONTEXT
    return grid_buckets[k:], clean[:, k:], g["activity"][:, k:], flag[:, k:]


def daily_hourly_stats(readings: pd.DataFrame, day: pd.Timestamp | str) -> pd.DataFrame:
    """Sums and counts of clean temperature and activity per (animal, hour) for one UTC day.

    ``readings`` must cover ``[day - 2 h, day + 1 d)`` (the 2 h are drinking-detection context).
    """
    d0 = day_start(day)
    if readings.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in STATS_COLUMNS})
    ids = np.unique(readings["animal_id"].to_numpy(dtype="int64"))
    buckets, temp, act, _ = clean_temperature_grid(readings, ids, d0, d0 + DAY)
    hours = buckets.hour.to_numpy()
    n_a = len(ids)
    # (A, 24, 6): 6 buckets per hour, buckets are aligned to midnight.
    t = temp.reshape(n_a, 24, 6)
    a = act.reshape(n_a, 24, 6)
    frame = pd.DataFrame({
        "animal_id": np.repeat(ids, 24),
        "day": d0,
        "hour": np.tile(hours[::6], n_a),
        "temp_sum": np.nansum(t, axis=2).ravel(),
        "temp_n": np.sum(~np.isnan(t), axis=2).ravel().astype("float64"),
        "act_sum": np.nansum(a, axis=2).ravel(),
        "act_n": np.sum(~np.isnan(a), axis=2).ravel().astype("float64"),
    })
    return frame[STATS_COLUMNS]


def baselines_from_stats(stats: pd.DataFrame, target_day: pd.Timestamp | str, n_days: int = N_DAYS,
                         min_days: int = MIN_DAYS) -> pd.DataFrame:
    """Baselines for ``target_day`` from the stats of days ``target_day-n_days .. target_day-1``.

    One row per (animal, hour) for every animal present in those stats.
    """
    d = day_start(target_day)
    window = stats[(stats["day"] >= d - n_days * DAY) & (stats["day"] < d)]
    if window.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in BASELINE_COLUMNS}).assign(
            day=pd.Series(dtype="datetime64[ns, UTC]"), animal_id=pd.Series(dtype="int64"),
            hour=pd.Series(dtype="int64"))[BASELINE_COLUMNS]
    w = window.assign(temp_day=(window["temp_n"] > 0).astype("int64"), act_day=(window["act_n"] > 0).astype("int64"))
    hod = w.groupby(["animal_id", "hour"], sort=True)[["temp_sum", "temp_n", "act_sum", "act_n", "temp_day", "act_day"]].sum()
    full = pd.MultiIndex.from_product([np.unique(w["animal_id"]).astype("int64"), np.arange(24)], names=["animal_id", "hour"])
    hod = hod.reindex(full, fill_value=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        temp_hod = hod["temp_sum"] / hod["temp_n"]
        act_hod = hod["act_sum"] / hod["act_n"]
    temp_hod[hod["temp_day"] < min_days] = np.nan
    act_hod[hod["act_day"] < min_days] = np.nan
    tot = hod.groupby(level="animal_id")[["temp_sum", "temp_n"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        temp_10d = tot["temp_sum"] / tot["temp_n"]
    temp_10d[tot["temp_n"] < MIN_BUCKETS_10D] = np.nan
    recent = w[w["day"] >= d - RECENT_DAYS * DAY].groupby("animal_id")[["temp_sum", "temp_n"]].sum()
    recent = recent.reindex(tot.index, fill_value=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        temp_3d = recent["temp_sum"] / recent["temp_n"]
    temp_3d[recent["temp_n"] < MIN_BUCKETS_RECENT] = np.nan
    out = pd.DataFrame({
        "temp_hod": temp_hod, "temp_hod_days": hod["temp_day"].astype("float64"),
        "activity_hod": act_hod, "activity_hod_days": hod["act_day"].astype("float64"),
    }).reset_index()
    out = out.merge(pd.DataFrame({"temp_10d": temp_10d, "temp_10d_buckets": tot["temp_n"],
                                  "temp_3d": temp_3d}).reset_index(),
                    on="animal_id", how="left")
    out["day"] = d
    out["animal_id"] = out["animal_id"].astype("int64")
    out["hour"] = out["hour"].astype("int64")
    return out[BASELINE_COLUMNS]


def compute_baselines(readings: pd.DataFrame, target_day: pd.Timestamp | str, n_days: int = N_DAYS,
                      min_days: int = MIN_DAYS) -> pd.DataFrame:
    """Baselines for one day from raw readings covering ``[target_day - n_days - 2 h, target_day)``.

    Later readings, if passed, are ignored: the baseline must not see the day it is used on.
    """
    d = day_start(target_day)
    stats = [daily_hourly_stats(readings, d - k * DAY) for k in range(n_days, 0, -1)]
    return baselines_from_stats(pd.concat(stats, ignore_index=True), d, n_days, min_days)


def baseline_arrays(baselines: pd.DataFrame, day: pd.Timestamp, animal_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Dense look-up arrays for one target day: ``*_hod`` of shape (A, 24), ``temp_10d`` and
    ``temp_3d`` of shape (A,). Baselines stored before ``temp_3d`` existed give NaN for it (the
    models see it as missing, as on a cow's first days) until those days are re-materialised."""
    n_a = len(animal_ids)
    out = {k: np.full((n_a, 24), np.nan) for k in ("temp_hod", "activity_hod", "temp_hod_days")}
    out["temp_10d"] = np.full(n_a, np.nan)
    out["temp_3d"] = np.full(n_a, np.nan)
    if baselines is None or baselines.empty:
        return out
    b = baselines[baselines["day"] == day_start(day)]
    if b.empty:
        return out
    ids = np.asarray(animal_ids, dtype="int64")
    bid = b["animal_id"].to_numpy(dtype="int64")
    ai = np.searchsorted(ids, bid)
    ai_c = np.minimum(ai, max(n_a - 1, 0))
    ok = (ai < n_a) & (ids[ai_c] == bid) if n_a else np.zeros(len(b), bool)
    hours = b["hour"].to_numpy(dtype="int64")
    for k in ("temp_hod", "activity_hod", "temp_hod_days"):
        out[k][ai[ok], hours[ok]] = b[k].to_numpy(dtype="float64")[ok]
    out["temp_10d"][ai[ok]] = b["temp_10d"].to_numpy(dtype="float64")[ok]
    if "temp_3d" in b.columns:
        out["temp_3d"][ai[ok]] = b["temp_3d"].to_numpy(dtype="float64")[ok]
    return out


def baselines_from_store(store: SensorStore, days: list[pd.Timestamp], n_days: int = N_DAYS,
                         min_days: int = MIN_DAYS) -> dict[pd.Timestamp, pd.DataFrame]:
    """Baselines for each of ``days`` from the sensor store, reading each history day once.

    The ``sensor_baselines`` asset and the scoring path (when a day's baselines were not
    materialised yet, e.g. today's before the daily run) share this, so both store the same
    numbers.
    """
    if not days:
        return {}
    days = [day_start(d) for d in days]
    history = pd.date_range(min(days) - n_days * DAY, max(days), freq="D", inclusive="left")
    stats = [f for f in (daily_hourly_stats(store.read_bolus(s - CONTEXT, s + DAY), s) for s in history) if len(f)]
    all_stats = pd.concat(stats, ignore_index=True) if stats else pd.DataFrame(
        columns=["animal_id", "day", "hour", "temp_sum", "temp_n", "act_sum", "act_n"])
    return {d: baselines_from_stats(all_stats, d, n_days, min_days) for d in days}
