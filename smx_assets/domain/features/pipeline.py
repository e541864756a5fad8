"""The one code path from raw readings to feature vectors, for training and for serving.

``compute_features`` is called by the ``training_features`` asset with a whole day of target
buckets and by ``serving.latest_features`` with one bucket. Each target bucket's vector only
reads cells of the trailing ``LOOKBACK`` (26 h: the 24 h window plus 2 h of drinking-detection
context) and the stored baselines of its own day, so both calls produce the same numbers
(proved by tests and by the asset check on ``training_features``).

Missing data is never a silent zero: window statistics over nothing are NaN, and explicit
``*_missing`` / ``*_unknown`` / ``*_coverage_*`` columns tell a model (and a person) why.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd

from smx_assets.domain.features import drinking, relative_activity
from smx_assets.domain.features.baselines import baseline_arrays
from smx_assets.domain.features.buckets import bucket_range as make_buckets
from smx_assets.domain.features.buckets import bucketize_bolus, to_grid, to_ns
from smx_assets.domain.features.climate import location_thi, sensor_thi
from smx_assets.domain.features.profile import PROFILE_COLUMNS, FarmRecords, active_animals, profile_features
from smx_assets.domain.features.windows import (
    WINDOWS,
    trailing_count,
    trailing_max,
    trailing_mean,
    trailing_min,
    trailing_std,
    trailing_sum,
)
from smx_assets.domain.time_grid import BUCKET, floor_bucket, utc

# Cells of history a target bucket needs: 143 for the 24 h window, 12 of drinking context for its
# oldest cell, 1 more for the "bout onset" comparison with the previous cell.
LOOKBACK_BUCKETS = WINDOWS["24h"] - 1 + drinking.CONTEXT + 1
LOOKBACK = LOOKBACK_BUCKETS * BUCKET  # 26 h
# (animal x target bucket) cells per vectorised block: bounds the (A, T, 144) window arrays to
# ~70 MB for a training day (400 animals) while serving (one bucket) runs all animals in one block.
CELL_BUDGET = 400 * 144
PH_SARA = 5.8

KEY_COLUMNS = ["animal_id", "bucket_start"]
FEATURE_DOC: dict[str, str] = {
    "n_readings": "readings in the bucket (0 = none arrived)",
    "n_artefacts": "readings' fields discarded as sensor artefacts (0 °C, 98.98 °C, pH 26, ...)",
    "temp_raw": "bucket mean temperature (°C), drinking drops included",
    "temp_clean": "bucket temperature with drinking drops removed (NaN while drinking)",
    "activity": "bucket mean activity index",
    "ph": "bucket mean reticulum pH (NaN for boluses without pH)",
    "drinking": "1 if the bucket is a drinking drop or its recovery tail",
    "temp_missing": "1 if no valid temperature reading in the bucket",
    "activity_missing": "1 if no valid activity reading in the bucket",
    "ph_missing": "1 if no valid pH reading in the bucket",
    "hour_of_day": "UTC hour of the bucket start (daily rhythm)",
}
for _w in WINDOWS:
    FEATURE_DOC.update({
        f"temp_clean_mean_{_w}": f"mean drinking-free temperature over the trailing {_w}",
        f"temp_clean_coverage_{_w}": f"share of trailing-{_w} buckets with a drinking-free temperature",
        f"activity_mean_{_w}": f"mean activity over the trailing {_w}",
        f"activity_coverage_{_w}": f"share of trailing-{_w} buckets with activity",
        f"drinking_bouts_{_w}": f"drinking bouts starting in the trailing {_w}",
    })
FEATURE_DOC.update({
    "temp_clean_std_24h": "std of drinking-free temperature over 24 h",
    "temp_clean_min_6h": "minimum drinking-free temperature over 6 h (pre-calving drop)",
    "activity_max_2h": "maximum bucket activity over 2 h",
    "ph_mean_24h": "mean pH over 24 h",
    "ph_below_5_8_minutes_24h": "minutes with pH < 5.8 over 24 h (SARA indicator)",
    "temp_delta_2h_24h": "temp_clean_mean_2h - temp_clean_mean_24h",
    "activity_ratio_2h_24h": "activity_mean_2h / activity_mean_24h",
    "temp_hod_baseline": "animal's mean drinking-free temperature at this hour over the previous 10 days",
    "temp_dev_hod": "temp_clean - temp_hod_baseline",
    "temp_dev_hod_2h": "temp_clean_mean_2h - mean hour-of-day baseline over the same 2 h",
    "activity_hod_baseline": "animal's mean activity at this hour over the previous 10 days",
    "activity_ratio_hod": "activity / activity_hod_baseline",
    "activity_ratio_hod_2h": "activity_mean_2h / mean hour-of-day activity baseline over the same 2 h",
    "activity_ratio_hod_6h": "activity_mean_6h / mean hour-of-day activity baseline over the same 6 h",
    **relative_activity.FEATURE_DOC,
    "temp_dev_hod_6h": "mean over 6 h of (drinking-free temperature - its hour-of-day baseline)",
    "temp_dev_hod_24h": "mean over 24 h of (drinking-free temperature - its hour-of-day baseline); "
                        "with temp_dev_hod_6h it tells how long a drop or rise has lasted",
    "temp_low_share_24h": "share of drinking-free buckets in 24 h more than 0.2 °C below their hour-of-day baseline",
    "temp_baseline_10d": "animal's mean drinking-free temperature over the previous 10 days",
    "temp_dev_10d_2h": "temp_clean_mean_2h - temp_baseline_10d (fever rule: > 0.8)",
    "temp_dev_10d_6h": "temp_clean_mean_6h - temp_baseline_10d",
    "temp_baseline_3d": "animal's mean drinking-free temperature over the previous 3 days (recent level)",
    "temp_dev_3d_2h": "temp_clean_mean_2h - temp_baseline_3d (pre-calving drop below the recent level)",
    "temp_dev_3d_6h": "temp_clean_mean_6h - temp_baseline_3d",
    "temp_dev_3d_24h": "temp_clean_mean_24h - temp_baseline_3d",
    "temp_3d_minus_10d": "temp_baseline_3d - temp_baseline_10d (pre-calving rise over the last days)",
    "baseline_days": "days contributing to this hour's temperature baseline",
    "baseline_missing": "1 if the hour-of-day temperature baseline is missing (< 3 days of history)",
    "activity_baseline_missing": "1 if the hour-of-day activity baseline is missing",
    "baseline_10d_missing": "1 if the 10-day temperature baseline is missing",
    "thi": "temperature-humidity index at the animal's location (barn/pasture) in the bucket",
    "thi_mean_6h": "mean THI over 6 h (heat stress acts with 1-3 h lag)",
    "thi_max_24h": "maximum THI over 24 h",
    "thi_missing": "1 if no climate reading for the animal's location in the bucket",
    "farm_id": "farm of the animal",
    "age_days": "age in days",
    "lactation_number": "number of the latest calving recorded by then (NaN if none)",
    "days_in_milk": "days since the latest calving recorded by then",
    "days_since_insemination": "days since the latest insemination recorded by then",
    "days_since_heat": "days since the latest recorded heat (insemination or confirmed heat alert)",
    "pregnant": "1 if a positive pregnancy check recorded by then, not followed by a calving",
    "days_pregnant": "days since the confirmed conception (NaN if not known pregnant)",
    "on_pasture": "1 if housed on pasture (housing period, else farm default)",
    "bolus_settling": "1 in the first 24 h after bolus insertion (readings not yet reliable)",
    "has_ph_sensor": "1 if the bolus measures pH",
    "calving_unknown": "1 if no calving recorded by then",
    "insemination_unknown": "1 if no insemination recorded by then",
    "heat_unknown": "1 if no heat recorded by then",
})
FEATURE_COLUMNS: list[str] = list(FEATURE_DOC)
assert set(PROFILE_COLUMNS) <= set(FEATURE_COLUMNS)
_THI_COLUMNS = ("thi", "thi_mean_6h", "thi_max_24h", "thi_missing")
INDICATOR_COLUMNS = [c for c in FEATURE_COLUMNS if c.endswith(("_missing", "_unknown"))]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den, NaN where either is missing or den is 0 (a ratio over nothing is unknown, not 0 or inf)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~np.isfinite(out)] = np.nan
    return out


ThiTables = tuple[dict[tuple[int, str], int], dict[str, np.ndarray]]


class _ThiMemo:
    """The THI tables of the last few distinct inputs, found again by the inputs' content.

    A pure function of (climate readings, sensors, grid), so a hit is the same tables, bit for
    bit. It pays off when one farm's bucket is computed again and again: ``POST /v1/score`` for
    the cows of a farm asks for the same climate of the same bucket, and the THI tables were a
    quarter of one cow's feature vector. One farm's bucket is a few bytes (groups x target
    buckets), a fleet's training day a few MB: bounded by entries (a farm's latest bucket each,
    for a thousand farms) and by bytes. The arrays are read-only, shared between callers."""

    SIZE = 1024
    MAX_BYTES = 32 * 2**20

    def __init__(self) -> None:
        self._tables: dict[bytes, tuple[ThiTables, int]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, climate: pd.DataFrame, records: FarmRecords, grid: pd.DatetimeIndex, j0: int, j1: int
            ) -> ThiTables:
        key = _thi_key(climate, records.sensors, grid, j0, j1)
        with self._lock:
            hit = self._tables.get(key)
        if hit is not None:
            return hit[0]
        index, feats = _thi_tables(climate, records, grid, j0, j1)
        size = sum(arr.nbytes for arr in feats.values()) + 100 * len(index)
        for arr in feats.values():
            arr.flags.writeable = False
        if size > self.MAX_BYTES // 4:
            return index, feats  # a fleet's day is not asked for twice
        with self._lock:
            if key not in self._tables:
                while self._tables and (len(self._tables) >= self.SIZE or self._bytes + size > self.MAX_BYTES):
                    self._bytes -= self._tables.pop(next(iter(self._tables)))[1]
                self._tables[key] = ((index, feats), size)
                self._bytes += size
        return index, feats


def _thi_key(climate: pd.DataFrame, sensors: pd.DataFrame, grid: pd.DatetimeIndex, j0: int, j1: int) -> bytes:
    """A digest of everything :func:`_thi_tables` reads."""
    h = hashlib.blake2b(digest_size=20)
    h.update(np.array([grid[0].value if len(grid) else 0, len(grid), j0, j1, len(climate), len(sensors)],
                      dtype="int64").tobytes())
    if len(climate):
        h.update(climate["sensor_id"].to_numpy(dtype="int64").tobytes())
        h.update(to_ns(climate["ts"]).tobytes())
        for col in ("air_temp_c", "rh_pct"):
            h.update(climate[col].to_numpy(dtype="float64").tobytes())
    h.update(sensors["sensor_id"].to_numpy(dtype="int64").tobytes())
    h.update(sensors["farm_id"].to_numpy(dtype="int64").tobytes())
    h.update("\x1f".join(map(str, sensors["location"])).encode())
    return h.digest()


_THI_MEMO = _ThiMemo()


def _thi_tables(climate: pd.DataFrame, records: FarmRecords, grid: pd.DatetimeIndex, j0: int, j1: int
                ) -> ThiTables:
    """THI features per (farm, location) group and per farm ('any' location) on the target columns."""
    sensors = records.sensors
    per_sensor = sensor_thi(climate)  # once for both groupings (bucket_thi's two halves)
    per_loc = location_thi(per_sensor, sensors)
    per_farm = location_thi(per_sensor, sensors.assign(location="any"))
    both = pd.concat([per_loc, per_farm], ignore_index=True)
    groups = sorted({(int(f), str(loc)) for f, loc in zip(sensors["farm_id"], sensors["location"])}
                    | {(int(f), "any") for f in sensors["farm_id"]})
    index = {g: i for i, g in enumerate(groups)}
    both["gid"] = [index.get((int(f), str(loc)), -1) for f, loc in zip(both["farm_id"], both["location"])]
    g = to_grid(both[both["gid"] >= 0], np.arange(len(groups), dtype="int64"), grid, ["thi"], id_col="gid")
    thi = g["thi"]
    if len(groups) == 0:
        empty = np.zeros((0, j1 - j0))
        return index, {"thi": empty, "thi_mean_6h": empty, "thi_max_24h": empty}
    return index, {
        "thi": thi[:, j0:j1],
        "thi_mean_6h": trailing_mean(thi, j0, j1, WINDOWS["6h"]),
        "thi_max_24h": trailing_max(thi, j0, j1, WINDOWS["24h"]),
    }


def compute_features(
    readings: pd.DataFrame,
    climate: pd.DataFrame,
    profiles: FarmRecords,
    baselines: pd.DataFrame | None,
    bucket_range: tuple[pd.Timestamp | str, pd.Timestamp | str],
    animal_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """One feature row per active animal per target bucket in ``bucket_range`` = ``[start, end)``.

    * ``readings``: bolus frame (sensor-store format) covering ``[start - LOOKBACK, end)``; rows
      outside are ignored, so passing later readings cannot leak the future.
    * ``climate``: climate frame covering the same range.
    * ``profiles``: herd records; each bucket only sees records entered before its end.
    * ``baselines``: stored ``sensor_baselines`` rows (column ``day``) for the target days.
    * ``animal_ids``: restrict to these animals (default: all with a bolus, not exited).

    Columns: ``KEY_COLUMNS + FEATURE_COLUMNS``, sorted by (animal_id, bucket_start).
    """
    t0, t1 = floor_bucket(bucket_range[0]), utc(bucket_range[1])
    targets = make_buckets(t0, t1)
    grid = make_buckets(t0 - LOOKBACK, t1)
    j0, j1 = LOOKBACK_BUCKETS, len(grid)
    ids = active_animals(profiles, t0, t1)
    if animal_ids is not None:
        ids = np.intersect1d(ids, np.asarray(animal_ids, dtype="int64"))
    if len(targets) == 0 or len(ids) == 0:
        return _empty()

    in_range = (readings["ts"] >= grid[0]) & (readings["ts"] < t1)
    bucketed = bucketize_bolus(readings[in_range])
    # Every feature of an animal reads its own records and its farm's climate only, so a chunk
    # of a large herd works on those (the cost follows the chunk, not the herd; same numbers).
    profiles = profiles.of_animals(ids)
    if len(climate):
        climate = climate[(climate["ts"] >= grid[0]) & (climate["ts"] < t1)
                          & climate["sensor_id"].isin(profiles.sensors["sensor_id"])]
    thi_index, thi_feats = _THI_MEMO.get(climate, profiles, grid, j0, j1)
    target_days = targets.floor("D")
    day_groups = [(d, np.flatnonzero(target_days == d)) for d in target_days.unique()]
    hours_grid = grid.hour.to_numpy()

    parts = []
    chunk_size = max(1, CELL_BUDGET // len(targets))
    for c0 in range(0, len(ids), chunk_size):
        chunk = ids[c0 : c0 + chunk_size]
        parts.append(_chunk_features(bucketed, chunk, grid, targets, j0, j1, day_groups, hours_grid,
                                     profiles, baselines, thi_index, thi_feats))
    out = pd.concat(parts, ignore_index=True)
    return out


def _empty() -> pd.DataFrame:
    cols = {"animal_id": pd.Series(dtype="int64"), "bucket_start": pd.Series(dtype="datetime64[ns, UTC]")}
    cols.update({c: pd.Series(dtype="float64") for c in FEATURE_COLUMNS})
    return pd.DataFrame(cols)


def _chunk_features(bucketed: pd.DataFrame, ids: np.ndarray, grid: pd.DatetimeIndex, targets: pd.DatetimeIndex,
                    j0: int, j1: int, day_groups: list, hours_grid: np.ndarray, profiles: FarmRecords,
                    baselines: pd.DataFrame | None, thi_index: dict, thi_feats: dict) -> pd.DataFrame:
    n_a, n_t = len(ids), len(targets)
    sub = bucketed[bucketed["animal_id"].isin(ids)]
    g = to_grid(sub, ids, grid, ["temp_c", "activity", "ph"])
    counts = to_grid(sub, ids, grid, ["n_readings", "n_artefacts"], fill=0.0)
    temp, act, ph = g["temp_c"], g["activity"], g["ph"]
    flag = drinking.detect_drinking(temp)
    clean = drinking.remove_drinking(temp, flag)
    onsets = drinking.drinking_onsets(flag)

    f: dict[str, np.ndarray] = {}
    f["n_readings"] = counts["n_readings"][:, j0:j1]
    f["n_artefacts"] = counts["n_artefacts"][:, j0:j1]
    f["temp_raw"] = temp[:, j0:j1]
    f["temp_clean"] = clean[:, j0:j1]
    f["activity"] = act[:, j0:j1]
    f["ph"] = ph[:, j0:j1]
    f["drinking"] = flag[:, j0:j1]
    f["temp_missing"] = np.isnan(f["temp_raw"]).astype("float64")
    f["activity_missing"] = np.isnan(f["activity"]).astype("float64")
    f["ph_missing"] = np.isnan(f["ph"]).astype("float64")
    f["hour_of_day"] = np.broadcast_to(targets.hour.to_numpy().astype("float64"), (n_a, n_t))
    for name, w in WINDOWS.items():
        f[f"temp_clean_mean_{name}"] = trailing_mean(clean, j0, j1, w)
        f[f"temp_clean_coverage_{name}"] = trailing_count(clean, j0, j1, w) / w
        f[f"activity_mean_{name}"] = trailing_mean(act, j0, j1, w)
        f[f"activity_coverage_{name}"] = trailing_count(act, j0, j1, w) / w
        f[f"drinking_bouts_{name}"] = trailing_sum(onsets, j0, j1, w)
    f["temp_clean_std_24h"] = trailing_std(clean, j0, j1, WINDOWS["24h"])
    f["temp_clean_min_6h"] = trailing_min(clean, j0, j1, WINDOWS["6h"])
    f["activity_max_2h"] = trailing_max(act, j0, j1, WINDOWS["2h"])
    f["ph_mean_24h"] = trailing_mean(ph, j0, j1, WINDOWS["24h"])
    sara = np.where(np.isnan(ph), np.nan, (ph < PH_SARA).astype("float64"))
    minutes = trailing_sum(sara, j0, j1, WINDOWS["24h"]) * 10.0
    minutes[trailing_count(ph, j0, j1, WINDOWS["24h"]) == 0] = np.nan
    f["ph_below_5_8_minutes_24h"] = minutes
    f["temp_delta_2h_24h"] = f["temp_clean_mean_2h"] - f["temp_clean_mean_24h"]
    f["activity_ratio_2h_24h"] = _ratio(f["activity_mean_2h"], f["activity_mean_24h"])

    # Baselines: every window cell of a target uses the baseline of the *target's* day (what the
    # scoring run had loaded at that moment).
    w2 = WINDOWS["2h"]
    b = {k: np.full((n_a, n_t), np.nan) for k in ("temp_hod_baseline", "activity_hod_baseline", "baseline_days",
                                                   "temp_baseline_10d", "temp_baseline_3d", "hod_temp_2h", "hod_act_2h",
                                                   "hod_act_6h", "dev_hod_6h", "dev_hod_24h", "low_share_24h",
                                                   *relative_activity.FEATURE_DOC)}
    w6, w24 = WINDOWS["6h"], WINDOWS["24h"]
    for day, cols in day_groups:
        arr = baseline_arrays(baselines, day, ids)
        hours_t = hours_grid[j0 + cols]
        b["temp_hod_baseline"][:, cols] = arr["temp_hod"][:, hours_t]
        b["activity_hod_baseline"][:, cols] = arr["activity_hod"][:, hours_t]
        b["baseline_days"][:, cols] = arr["temp_hod_days"][:, hours_t]
        b["temp_baseline_10d"][:, cols] = arr["temp_10d"][:, None]
        b["temp_baseline_3d"][:, cols] = arr["temp_3d"][:, None]
        win_hours = hours_grid[(j0 + cols)[:, None] + np.arange(-w2 + 1, 1)[None, :]]  # (n_cols, 12)
        for src, dst in (("temp_hod", "hod_temp_2h"), ("activity_hod", "hod_act_2h")):
            v = arr[src][:, win_hours]  # (A, n_cols, 12)
            valid = ~np.isnan(v)
            n = valid.sum(axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                m = np.where(valid, v, 0.0).sum(axis=2) / n
            m[n == 0] = np.nan
            b[dst][:, cols] = m
        # Per-cell deviations from the hour-of-day baseline over the whole grid (the target day's
        # baseline, like every other window cell), then trailing windows: only the target's
        # trailing cells are read, so one bucket (serving) and a day of buckets agree exactly.
        dev = clean - arr["temp_hod"][:, hours_grid]
        b["dev_hod_6h"][:, cols] = trailing_mean(dev, j0, j1, w6)[:, cols]
        b["dev_hod_24h"][:, cols] = trailing_mean(dev, j0, j1, w24)[:, cols]
        low = np.where(np.isnan(dev), np.nan, (dev < -0.2).astype("float64"))
        b["low_share_24h"][:, cols] = trailing_mean(low, j0, j1, w24)[:, cols]
        b["hod_act_6h"][:, cols] = trailing_mean(arr["activity_hod"][:, hours_grid], j0, j1, w6)[:, cols]
        c0, c1 = j0 + int(cols[0]), j0 + int(cols[-1]) + 1  # a day's targets are contiguous
        rel = relative_activity.relative_activity_features(act, arr["activity_hod"][:, hours_grid], c0, c1)
        for k, v in rel.items():
            b[k][:, cols] = v
    f["temp_hod_baseline"] = b["temp_hod_baseline"]
    f["temp_dev_hod"] = f["temp_clean"] - b["temp_hod_baseline"]
    f["temp_dev_hod_2h"] = f["temp_clean_mean_2h"] - b["hod_temp_2h"]
    f["activity_hod_baseline"] = b["activity_hod_baseline"]
    f["activity_ratio_hod"] = _ratio(f["activity"], b["activity_hod_baseline"])
    f["activity_ratio_hod_2h"] = _ratio(f["activity_mean_2h"], b["hod_act_2h"])
    f["activity_ratio_hod_6h"] = _ratio(f["activity_mean_6h"], b["hod_act_6h"])
    for k in relative_activity.FEATURE_DOC:
        f[k] = b[k]
    f["temp_dev_hod_6h"] = b["dev_hod_6h"]
    f["temp_dev_hod_24h"] = b["dev_hod_24h"]
    f["temp_low_share_24h"] = b["low_share_24h"]
    f["temp_baseline_10d"] = b["temp_baseline_10d"]
    f["temp_dev_10d_2h"] = f["temp_clean_mean_2h"] - b["temp_baseline_10d"]
    f["temp_dev_10d_6h"] = f["temp_clean_mean_6h"] - b["temp_baseline_10d"]
    f["temp_baseline_3d"] = b["temp_baseline_3d"]
    f["temp_dev_3d_2h"] = f["temp_clean_mean_2h"] - b["temp_baseline_3d"]
    f["temp_dev_3d_6h"] = f["temp_clean_mean_6h"] - b["temp_baseline_3d"]
    f["temp_dev_3d_24h"] = f["temp_clean_mean_24h"] - b["temp_baseline_3d"]
    f["temp_3d_minus_10d"] = b["temp_baseline_3d"] - b["temp_baseline_10d"]
    f["baseline_days"] = np.where(np.isnan(b["baseline_days"]), 0.0, b["baseline_days"])
    f["baseline_missing"] = np.isnan(b["temp_hod_baseline"]).astype("float64")
    f["activity_baseline_missing"] = np.isnan(b["activity_hod_baseline"]).astype("float64")
    f["baseline_10d_missing"] = np.isnan(b["temp_baseline_10d"]).astype("float64")

    # Rows only for buckets where the animal had a bolus and had not left the herd.
    a = profiles.animals.set_index("animal_id").reindex(ids)
    nat = np.iinfo("int64").min
    ins, ext = to_ns(a["bolus_inserted_at"])[:, None], to_ns(a["exit_date"])[:, None]
    bs = targets.as_unit("ns").asi8[None, :]
    keep = ((ins != nat) & (ins < bs + BUCKET.value) & ((ext == nat) | (ext > bs))).reshape(-1)
    row_ids = np.repeat(ids, n_t)[keep]
    row_ts = np.tile(targets.as_unit("ns").asi8, n_a)[keep]
    col = np.tile(np.arange(n_t), n_a)[keep]
    n = len(row_ids)

    # One (column, row) float block in FEATURE_COLUMNS order: the frame is built without copies.
    block = np.empty((len(FEATURE_COLUMNS), n), dtype="float64")
    pos = {c: i for i, c in enumerate(FEATURE_COLUMNS)}
    assert set(f) | set(PROFILE_COLUMNS) | set(_THI_COLUMNS) == set(FEATURE_COLUMNS), "a feature column is not filled"
    for k, v in f.items():
        block[pos[k]] = np.ascontiguousarray(np.broadcast_to(v, (n_a, n_t))).reshape(-1)[keep]

    bucket_start = pd.DatetimeIndex(row_ts.view("datetime64[ns]")).tz_localize("UTC")
    rows = pd.DataFrame({"animal_id": row_ids, "t": bucket_start + BUCKET})
    prof = profile_features(profiles, rows)
    for c in PROFILE_COLUMNS:
        block[pos[c]] = prof[c].to_numpy(dtype="float64")

    # THI at the animal's current location, else the farm's mean over all its sensors.
    farm = block[pos["farm_id"]]
    loc = np.where(block[pos["on_pasture"]] == 1.0, "pasture", "barn")
    gid = np.array([thi_index.get((int(fa), lo), thi_index.get((int(fa), "any"), -1)) if not np.isnan(fa) else -1
                    for fa, lo in zip(farm, loc)], dtype="int64")
    ok = gid >= 0
    for k in ("thi", "thi_mean_6h", "thi_max_24h"):
        vals = np.full(n, np.nan)
        if ok.any():
            vals[ok] = thi_feats[k][gid[ok], col[ok]]
        block[pos[k]] = vals
    block[pos["thi_missing"]] = np.isnan(block[pos["thi"]]).astype("float64")

    frame = pd.DataFrame(block.T, columns=FEATURE_COLUMNS, copy=False)
    frame.insert(0, "bucket_start", bucket_start)
    frame.insert(0, "animal_id", row_ids)
    return frame
