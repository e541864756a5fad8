"""Barn climate: the temperature-humidity index (THI) per farm, location and bucket.

Heat stress (THI above ~68–72) raises body temperature and lowers activity, so models need THI
to avoid reading heat stress as fever or missing heats whose expression it weakens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.time_grid import BUCKET

AIR_TEMP_VALID = (-40.0, 60.0)
RH_VALID = (0.0, 100.0)


def thi(air_temp_c: np.ndarray | pd.Series | float, rh_pct: np.ndarray | pd.Series | float):  # type: ignore[no-untyped-def]
    """THI = (1.8 T + 32) − (0.55 − 0.0055 RH)(1.8 T − 26.8), T in °C, RH in % (NRC 1971)."""
    t = 1.8 * np.asarray(air_temp_c, dtype="float64") if not np.isscalar(air_temp_c) else 1.8 * air_temp_c
    rh = np.asarray(rh_pct, dtype="float64") if not np.isscalar(rh_pct) else rh_pct
    return (t + 32.0) - (0.55 - 0.0055 * rh) * (t - 26.8)


def bucket_thi(climate: pd.DataFrame, sensors: pd.DataFrame) -> pd.DataFrame:
    """THI per (farm_id, location, bucket) from raw climate readings.

    THI is computed from the bucket means of air temperature and humidity per sensor, then
    averaged over the sensors of a farm's location (barn or pasture). Out-of-range values are
    dropped, never clipped. ``sensors``: ``sensor_id``, ``farm_id``, ``location``.
    """
    if climate.empty or sensors.empty:
        return _empty()
    return location_thi(sensor_thi(climate), sensors)


def sensor_thi(climate: pd.DataFrame) -> pd.DataFrame:
    """THI per (sensor_id, bucket) from the bucket means of a sensor's valid readings: the first
    half of :func:`bucket_thi`, computed once when several groupings of sensors need it."""
    if climate.empty:
        return pd.DataFrame({"sensor_id": pd.Series(dtype="int64"), "bucket": pd.Series(dtype="datetime64[ns, UTC]"),
                             "air_temp_c": pd.Series(dtype="float64"), "rh_pct": pd.Series(dtype="float64"),
                             "thi": pd.Series(dtype="float64")})
    c = climate[["sensor_id", "ts", "air_temp_c", "rh_pct"]].copy()
    for col, (lo, hi) in (("air_temp_c", AIR_TEMP_VALID), ("rh_pct", RH_VALID)):
        c.loc[(c[col] < lo) | (c[col] > hi), col] = np.nan
    c["bucket"] = c["ts"].dt.floor(BUCKET)
    per_sensor = c.groupby(["sensor_id", "bucket"], sort=True)[["air_temp_c", "rh_pct"]].mean().reset_index()
    per_sensor["thi"] = thi(per_sensor["air_temp_c"].to_numpy(), per_sensor["rh_pct"].to_numpy())
    return per_sensor


def location_thi(per_sensor: pd.DataFrame, sensors: pd.DataFrame) -> pd.DataFrame:
    """THI per (farm_id, location, bucket): :func:`sensor_thi` averaged over each location's sensors."""
    if per_sensor.empty or sensors.empty:
        return _empty()
    per_sensor = per_sensor.merge(sensors[["sensor_id", "farm_id", "location"]], on="sensor_id", how="inner")
    out = per_sensor.groupby(["farm_id", "location", "bucket"], sort=True)["thi"].mean().reset_index()
    return out[["farm_id", "location", "bucket", "thi"]]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"farm_id": pd.Series(dtype="int64"), "location": pd.Series(dtype="object"),
                         "bucket": pd.Series(dtype="datetime64[ns, UTC]"), "thi": pd.Series(dtype="float64")})
