"""Farm climate: outdoor air, the barn it moderates, THI, and the climate sensors' readings.

Air temperature and humidity are closed-form functions of time (season + daily cycle + a
smooth day-to-day weather anomaly from the counter RNG), so the cows' heat stress at any
moment can be evaluated without simulating the weather sequentially, and any window of climate
readings is reproducible on its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.simulator.config import SLOT_MIN, SLOTS_PER_DAY
from smx_assets.domain.simulator.rng import Stream, normal, uniform

JULY_PEAK_DAY = 195.0  # days after 1 Jan 1970 -> mid-July, the warmest time of year
YEAR_DAYS = 365.25
HEAT_STRESS_LAGS_MIN = (60.0, 120.0, 180.0)  # temperature follows THI 1-3 h later


def thi(air_temp_c: np.ndarray, rh_pct: np.ndarray) -> np.ndarray:
    """Temperature-humidity index exactly as DOMAIN.md defines it."""
    t = 1.8 * air_temp_c + 32.0
    return t - (0.55 - 0.0055 * rh_pct) * (1.8 * air_temp_c - 26.8)


def _weather_anomaly(seed: int, farm_id: np.ndarray, t_min: np.ndarray, which: int) -> np.ndarray:
    """Standard-normal day-to-day weather, linearly interpolated between daily noon values."""
    x = t_min / 1440.0 - 0.5
    d0 = np.floor(x)
    w = x - d0
    d0i = d0.astype(np.int64)
    a0 = normal(seed, Stream.WEATHER, which, farm_id, d0i)
    a1 = normal(seed, Stream.WEATHER, which, farm_id, d0i + 1)
    return (1.0 - w) * a0 + w * a1


def outdoor_air(seed: int, farm_id: np.ndarray, t_min: np.ndarray, offset_c: np.ndarray | float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Outdoor (temperature °C, relative humidity %) at minutes since the epoch (UTC)."""
    days = t_min / 1440.0
    hour = np.mod(t_min, 1440.0) / 60.0
    diurnal = np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)  # warmest at 15:00
    temp = (9.0 + 9.0 * np.cos(2.0 * np.pi * (days - JULY_PEAK_DAY) / YEAR_DAYS)
            + 5.0 * diurnal + 3.0 * _weather_anomaly(seed, farm_id, t_min, 0) + offset_c)
    rh = np.clip(76.0 - 14.0 * diurnal + 8.0 * _weather_anomaly(seed, farm_id, t_min, 1), 30.0, 100.0)
    return temp, rh


def barn_air(outdoor_temp: np.ndarray, outdoor_rh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ventilated barn follows outdoor air, damped and a little warmer (the cows heat it)."""
    return 0.6 * outdoor_temp + 0.4 * 14.0 + 2.5, np.clip(0.9 * outdoor_rh + 8.0, 40.0, 95.0)


def air(seed: int, farm_id: np.ndarray, t_min: np.ndarray, offset_c: np.ndarray | float,
        on_pasture: np.ndarray | bool) -> tuple[np.ndarray, np.ndarray]:
    """Air the cow breathes: outdoor air on pasture, barn air otherwise."""
    t_out, rh_out = outdoor_air(seed, farm_id, t_min, offset_c)
    t_barn, rh_barn = barn_air(t_out, rh_out)
    return np.where(on_pasture, t_out, t_barn), np.where(on_pasture, rh_out, rh_barn)


def lagged_thi(seed: int, farm_id: np.ndarray, t_min: np.ndarray, offset_c: np.ndarray | float,
               on_pasture: np.ndarray | bool) -> np.ndarray:
    """THI averaged over 1-3 h before ``t_min``: what the cow's temperature responds to now."""
    out = np.zeros(np.broadcast(farm_id, t_min).shape)
    for lag in HEAT_STRESS_LAGS_MIN:
        out += thi(*air(seed, farm_id, t_min - lag, offset_c, on_pasture))
    return out / len(HEAT_STRESS_LAGS_MIN)


def climate_readings(seed: int, sensors: pd.DataFrame, farms: pd.DataFrame, first_day: int,
                     last_day: int, gap_rate: float) -> pd.DataFrame:
    """Readings of every climate sensor for days ``[first_day, last_day)`` (days since epoch).

    ``received_at`` is a few seconds to a minute after ``ts``: climate sensors are mains powered
    and in range of the base station.
    """
    if sensors.empty or last_day <= first_day:
        return pd.DataFrame(columns=["sensor_id", "ts", "air_temp_c", "rh_pct", "received_at"])
    offset_by_farm = farms.set_index("id")["climate_profile"].map(lambda p: float((p or {}).get("offset_c", 0.0)))
    sid = sensors["id"].to_numpy(np.int64)[:, None]
    fid = sensors["farm_id"].to_numpy(np.int64)[:, None]
    pasture = (sensors["location"].to_numpy() == "pasture")[:, None]
    offset_c = offset_by_farm.reindex(sensors["farm_id"]).to_numpy(np.float64)[:, None]
    slot = np.arange(first_day * SLOTS_PER_DAY, last_day * SLOTS_PER_DAY, dtype=np.int64)[None, :]
    phase_s = np.floor(uniform(seed, Stream.CLIMATE_NOISE, 9, sid) * SLOT_MIN * 60.0)
    ts_s = slot * SLOT_MIN * 60 + phase_s
    temp, rh = air(seed, fid, ts_s / 60.0, offset_c, pasture)
    temp = np.round(temp + 0.1 * normal(seed, Stream.CLIMATE_NOISE, 1, sid, slot), 2)
    rh = np.round(np.clip(rh + 1.0 * normal(seed, Stream.CLIMATE_NOISE, 2, sid, slot), 0.0, 100.0), 1)
    delay_s = np.floor(5.0 + 55.0 * uniform(seed, Stream.CLIMATE_NOISE, 3, sid, slot))
    keep = uniform(seed, Stream.CLIMATE_ARTEFACT, sid, slot) >= gap_rate
    shape = keep.shape
    ts_ns = (ts_s * 1_000_000_000).astype(np.int64)
    frame = pd.DataFrame({
        "sensor_id": np.broadcast_to(sid, shape)[keep],
        "ts": pd.to_datetime(ts_ns[keep], utc=True),
        "air_temp_c": temp[keep],
        "rh_pct": rh[keep],
        "received_at": pd.to_datetime((ts_ns + (delay_s * 1e9).astype(np.int64))[keep], utc=True),
    })
    return frame
