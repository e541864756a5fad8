"""The bolus signal: temperature, activity and pH of every cow for one day, vectorised.

One call computes a whole day (144 readings) for all animals as (animal x slot) arrays. A day's
values depend only on the herd timeline, the climate functions and counter-RNG draws keyed by
(animal, slot) or (animal, day), and the computation is identical whichever window asked for
the day, so days can be generated in any grouping with bit-identical results.

Figures follow DOMAIN.md; where it gives a range the draw is uniform over it unless noted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smx_assets.domain.simulator.climate import HEAT_STRESS_LAGS_MIN, air, thi
from smx_assets.domain.simulator.config import SLOT_MIN, SLOTS_PER_DAY
from smx_assets.domain.simulator.herd import MIN_PER_DAY, Herd
from smx_assets.domain.simulator.rng import Stream, normal, pack, uniform, uniforms3

MAX_BOUTS = 20
BOUT_EFFECT_SLOTS = 24  # a drinking drop is followed for 4 h (it has recovered by then)
DRINK_ANCHORS_H = np.array([5.0, 8.0, 17.0, 20.0])  # milking (05:00/17:00) and feeding (08:00/20:00)
HEAT_STRESS_TEMP_PER_THI = 0.04  # °C per THI unit above the cow's threshold
SETTLE_H = 24.0


@dataclass
class DaySignal:
    """One day of clean readings for all animals; arrays are (n_animals, 144)."""

    day: int
    ts_s: np.ndarray  # int64 seconds since the epoch
    temp: np.ndarray
    activity: np.ndarray
    ph: np.ndarray  # NaN without a pH sensor
    present: np.ndarray  # bolus inserted (readings exist)
    on_pasture: np.ndarray  # (n_animals,)


def _gauss(h: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((h - centre) / width) ** 2)


def temperature_rhythm(h: np.ndarray) -> np.ndarray:
    """Circadian part: ~0.5 °C; with the drinking drops clustered after milking and feeding the
    hourly herd mean swings ~1 °C peak to trough, troughs late morning and late evening."""
    return (0.22 * np.cos(4.0 * np.pi * (h - 4.5) / 24.0) + 0.08 * np.cos(2.0 * np.pi * (h - 17.0) / 24.0)
            + 0.1 * _gauss(h, 5.5, 0.5) + 0.1 * _gauss(h, 17.5, 0.5))


# Fourier coefficients (const, then cos/sin of 1..4 cycles a day) of the herd's hour-of-day mean
# activity over its overall mean, fitted to the 2-hour means of the real SCR collar exports
# (bovheat weekly, weeks 1-2, outside heats): 0.86 0.75 0.73 1.04 1.09 1.00 1.00 1.08 1.30 1.09
# 0.97 1.05 for 00-02 h .. 22-24 h; lowest 02-06 h, highest at the evening milking (~17 h).
ACTIVITY_FOURIER = (0.9967, -0.091, -0.1343, -0.0378, -0.0654, 0.1151, 0.0288, 0.0292, -0.0157)
# Activity noise besides the 10-minute jitter, calibrated on the same exports (issue 11;
# ``calibration.activity_statistics``): real 2-hour activity is far more variable around the
# cow's own hour-of-day baseline than independent 10-minute noise averages out to.
ACT_HOUR_LAPLACE_B = 0.22  # one level per clock hour: sitting, lying, a walk (heavy tails both ways)
ACT_DAY_SD = 0.11  # the cow's slowly moving level (knots at noon every ACT_LEVEL_DAYS, linear in between)
ACT_LEVEL_DAYS = 2


def activity_profile(h: np.ndarray) -> np.ndarray:
    """Relative activity by hour of day (mean 1): lowest 02-06 h, peaks at milking (~06-10 h, ~17 h)."""
    out = np.full(np.shape(h), ACTIVITY_FOURIER[0], dtype=np.float64)
    for k in range(1, 5):
        w = 2.0 * np.pi * k * np.asarray(h) / 24.0
        out = out + ACTIVITY_FOURIER[2 * k - 1] * np.cos(w) + ACTIVITY_FOURIER[2 * k] * np.sin(w)
    return out


def activity_noise(seed: int, animal_id: np.ndarray, day: int) -> np.ndarray:
    """Log-activity noise on the day's 10-minute grid (n_animals, 144), mean of exp() = 1.

    * an hourly level: Laplace(``ACT_HOUR_LAPLACE_B``) per (animal, clock hour), so a 2-hour
      collar slot averages two of them: the ratio to the cow's baseline has the real exports'
      heavy tails (p99.9 ~3x) and consecutive 2-hour slots are nearly independent;
    * a slowly moving level: normal(``ACT_DAY_SD``) per (animal, knot) at noon every
      ``ACT_LEVEL_DAYS`` days, linearly interpolated: the real exports' ~0.1-0.15 correlation
      between slots 4-24 h apart (a cow has busier and quieter days).

    Counter-RNG keyed by (animal, hour) and (animal, knot): window-independent like the rest.
    """
    aid = np.asarray(animal_id, dtype=np.int64)[:, None]
    k = np.arange(SLOTS_PER_DAY)
    hour = day * 24 + (k * SLOT_MIN) // 60
    u = uniform(seed, Stream.ACT_HOUR, pack(aid, hour[None, :]))
    b = ACT_HOUR_LAPLACE_B
    hourly = -b * np.sign(u - 0.5) * np.log1p(-2.0 * np.abs(u - 0.5))
    # knots every ACT_LEVEL_DAYS days (at noon), keyed by the knot's index: any window agrees
    pos = (day + (k * SLOT_MIN + SLOT_MIN / 2) / 1440.0 - 0.5) / ACT_LEVEL_DAYS
    j = np.floor(pos).astype(np.int64)
    frac = (pos - j)[None, :]
    knots = {int(i): ACT_DAY_SD * normal(seed, Stream.ACT_DAY, pack(aid, np.int64(i)))
             for i in range(int(j.min()), int(j.max()) + 2)}
    lo = np.concatenate([knots[int(i)] for i in j], axis=1)
    hi = np.concatenate([knots[int(i) + 1] for i in j], axis=1)
    daily = lo + frac * (hi - lo)
    # E[exp(Laplace(b))] = 1 / (1 - b^2); the interpolated normal's variance varies between knots
    var_day = ACT_DAY_SD ** 2 * ((1.0 - frac) ** 2 + frac ** 2)
    return hourly + np.log1p(-b * b) + daily - var_day / 2.0


def _group_thi(herd: Herd, farm_id: int, on_pasture: bool, offset_c: float, day: int
               ) -> tuple[np.ndarray, float]:
    """Lagged THI on the day's slot grid and the day's peak THI for one (farm, housing) group.

    The 1-3 h lags are whole slots, so one evaluation on a grid reaching 3 h back serves all
    of them. Cached on the herd: the previous day's peak is needed again for drinking.
    """
    key = (farm_id, on_pasture, day)
    hit = herd.cache.get(key)
    if hit is not None:
        return hit
    back = int(max(HEAT_STRESS_LAGS_MIN) // SLOT_MIN)
    grid = (day * SLOTS_PER_DAY + np.arange(-back, SLOTS_PER_DAY)) * float(SLOT_MIN)
    values = thi(*air(herd.config.seed, np.array([farm_id]), grid, offset_c, on_pasture))
    lagged = np.mean([values[back - int(lag // SLOT_MIN):][:SLOTS_PER_DAY] for lag in HEAT_STRESS_LAGS_MIN], axis=0)
    out = (lagged, float(values[back:].max()))
    herd.cache[key] = out
    return out


def _climate_grid(herd: Herd, day: int, on_pasture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lagged THI on the slot grid (n_animals, 144) and the day's peak THI (n_animals,).

    Evaluated once per (farm, housing) group rather than per cow: the climate is the farm's.
    """
    p = herd.params
    lag = np.empty((len(on_pasture), SLOTS_PER_DAY))
    peak = np.empty(len(on_pasture))
    keys = p["farm_id"] * 2 + on_pasture
    for key in np.unique(keys):
        rows = keys == key
        lag[rows], peak[rows] = _group_thi(herd, int(key) // 2, bool(key % 2),
                                           float(p["climate_offset_c"][rows][0]), day)
    return lag, peak


def _drinking(herd: Herd, day: int, phase_min: np.ndarray, water_factor: dict[int, np.ndarray]) -> np.ndarray:
    """Drinking drops (n_animals, 144): 6-12 bouts a day, more under heat stress.

    A bout's nadir is the first reading after it (mean drop ~2.3 °C, 2-8 °C, right-skewed);
    it recovers exponentially (tau 20-35 min: back within 1-2 h). Bouts of the previous day
    are included so drops just before midnight carry over.
    """
    p = herd.params
    seed = herd.config.seed
    aid = p["animal_id"][:, None]
    n = len(phase_min)
    j = np.arange(MAX_BOUTS)[None, :]
    decay = herd.cache.get("drink_decay")
    if decay is None:  # (n_animals, 24): the recovery curve of each cow
        decay = np.exp(-np.arange(BOUT_EFFECT_SLOTS)[None, :] * SLOT_MIN / p["drink_tau_min"][:, None])
        herd.cache["drink_decay"] = decay
    idx_parts, val_parts = [], []
    lags = np.arange(BOUT_EFFECT_SLOTS)[None, :]
    for dd in (day - 1, day):
        wf = water_factor[dd][:, None]
        n_bouts = np.minimum(np.round((6 + np.floor(7 * uniform(seed, Stream.DRINK, 0, aid, dd))) * wf), MAX_BOUTS)
        rows, jj = np.nonzero(j < n_bouts)
        key = pack(p["animal_id"][rows], jj)
        u_cluster, u_anchor, u_time = uniforms3(seed, Stream.DRINK, 1, dd, key)
        anchor = DRINK_ANCHORS_H[np.minimum((4 * u_anchor).astype(int), 3)]
        tb_min = np.where(u_cluster < 0.6, anchor + 0.25 + 2.5 * u_time, 5.0 + 18.5 * u_time) * 60.0
        drop = np.minimum(2.0 + 0.236 * (-np.log(uniform(seed, Stream.DRINK, 4, dd, key))) ** (1 / 0.7), 8.0)
        drop = drop * (1.0 + 0.15 * (wf[rows, 0] - 1.0))
        first = np.ceil((tb_min - phase_min[rows]) / SLOT_MIN).astype(np.int64) + (dd - day) * SLOTS_PER_DAY
        slot = first[:, None] + lags
        val = -drop[:, None] * decay[rows]
        ok = (slot >= 0) & (slot < SLOTS_PER_DAY)
        idx_parts.append((rows[:, None] * SLOTS_PER_DAY + slot)[ok])
        val_parts.append(val[ok])
    flat = np.bincount(np.concatenate(idx_parts), np.concatenate(val_parts), minlength=n * SLOTS_PER_DAY)
    # overlapping bouts add up, but the reticulum cannot get colder than ~8 °C below normal
    return np.maximum(flat.reshape(n, SLOTS_PER_DAY), -8.0)


def _active(events: pd.DataFrame, lo_min: float, hi_min: float, before_h: float, after_h: np.ndarray | float
            ) -> pd.DataFrame:
    if events.empty:
        return events
    t = events["t_min"].to_numpy()
    return events[(t - before_h * 60.0 < hi_min) & (t + np.asarray(after_h) * 60.0 > lo_min)]


def _event_effects(herd: Herd, day: int, t_min: np.ndarray, temp: np.ndarray, log_act: np.ndarray) -> None:
    """Add heats (+ovulation dip), calvings and fevers to temperature and log-activity in place."""
    lo, hi = day * MIN_PER_DAY - 60.0, (day + 1) * MIN_PER_DAY + 60.0

    h = _active(herd.heats, lo, hi, 1.0, herd.heats["ovulation_h"].to_numpy() + 12.0 if not herd.heats.empty else 0.0)
    if not h.empty:
        a = h["a"].to_numpy()
        rel = (t_min[a] - h["t_min"].to_numpy()[:, None]) / 60.0
        dur = h["duration_h"].to_numpy()[:, None]
        w = np.clip(np.minimum(rel / 0.75, (dur - rel) / 0.75), 0.0, 1.0)
        np.add.at(log_act, a, w * np.log(h["act_ratio"].to_numpy())[:, None])
        ov = h["ovulation_h"].to_numpy()[:, None]
        np.add.at(temp, a, w * h["temp_rise_eff"].to_numpy()[:, None]
                  - h["dip"].to_numpy()[:, None] * _gauss(rel, ov, 2.5))

    c = _active(herd.calvings, lo, hi, 7 * 24.0, 36.0)
    if not c.empty:
        a = c["a"].to_numpy()
        rel = (t_min[a] - c["t_min"].to_numpy()[:, None]) / 60.0
        rise = c["rise"].to_numpy()[:, None]
        drop = c["drop"].to_numpy()[:, None]
        before = (rise * np.clip((rel + 168.0) / 96.0, 0.0, 1.0)  # the week's rise is complete 3 days before
                  - drop * np.clip((rel + c["drop_start_h"].to_numpy()[:, None]) / 4.0, 0.0, 1.0))
        after = (rise - drop) * np.exp(-np.maximum(rel, 0.0) / 6.0)
        np.add.at(temp, a, np.where(rel < 0, before, after))
        act = np.where((rel >= -8.0) & (rel < 0.0), np.clip((rel + 8.0) / 1.0, 0.0, 1.0), 0.0)
        np.add.at(log_act, a, act * np.log1p(c["act_rise"].to_numpy())[:, None])

    f = herd.fevers
    if not f.empty:
        f = _active(f, lo, hi, 0.0, (f["ramp_h"] + f["plateau_h"] + 12.0).to_numpy())
    if not f.empty:
        a = f["a"].to_numpy()
        rel = (t_min[a] - f["t_min"].to_numpy()[:, None]) / 60.0
        ramp = f["ramp_h"].to_numpy()[:, None]
        top = ramp + f["plateau_h"].to_numpy()[:, None]
        level = np.where(rel < top, np.clip(rel / ramp, 0.0, 1.0), np.clip(1.0 - (rel - top) / 12.0, 0.0, 1.0))
        level = np.where(rel < 0, 0.0, level)
        np.add.at(temp, a, level * f["peak"].to_numpy()[:, None])
        np.add.at(log_act, a, level * np.log1p(-f["act_drop"].to_numpy())[:, None])


def water_factors(herd: Herd, day: int, peak_thi: np.ndarray) -> np.ndarray:
    """Water intake multiplier per cow for a day: 1 in comfort, up to 1.8 under heat stress."""
    return 1.0 + 0.8 * np.clip((peak_thi - herd.params["hs_threshold"]) / 10.0, 0.0, 1.0)


def day_signal(herd: Herd, day: int) -> DaySignal:
    """Clean readings (no artefacts) of every animal for ``day`` (days since the epoch)."""
    cfg = herd.config
    p = herd.params
    seed = cfg.seed
    n = len(p["animal_id"])
    rows = np.arange(n)
    aid = p["animal_id"][:, None]
    k = np.arange(SLOTS_PER_DAY)
    slot = (day * SLOTS_PER_DAY + k)[None, :]
    ts_s = slot * SLOT_MIN * 60 + p["phase_s"].astype(np.int64)[:, None]
    t_min = ts_s / 60.0
    key = pack(aid, slot)  # (animal, slot): the per-reading random key
    # hour of day on the slot grid (mid-slot): the bolus phase (< 10 min) is irrelevant to rhythms
    h = ((k * SLOT_MIN + SLOT_MIN / 2) / 60.0)[None, :]
    pasture = herd.on_pasture(rows, day)

    thi_lag, peak = _climate_grid(herd, day, pasture)
    _, peak_prev = _climate_grid(herd, day - 1, herd.on_pasture(rows, day - 1))
    wf = {day - 1: water_factors(herd, day - 1, peak_prev), day: water_factors(herd, day, peak)}
    excess = np.maximum(thi_lag - p["hs_threshold"][:, None], 0.0)

    temp = (p["temp_mean"][:, None] + temperature_rhythm(h)
            + 0.05 * normal(seed, Stream.TEMP_NOISE, key)
            + HEAT_STRESS_TEMP_PER_THI * excess
            + _drinking(herd, day, p["phase_s"] / 60.0, wf))
    log_act = (np.log(activity_profile(h)) + np.log(p["act_base"])[:, None]
               + np.where(pasture, np.log(p["pasture_act"]), 0.0)[:, None]
               + np.log(np.maximum(1.0 - 0.02 * excess, 0.8))
               + 0.25 * normal(seed, Stream.ACT_NOISE, key) - 0.03125
               + activity_noise(seed, p["animal_id"], day))
    _event_effects(herd, day, t_min, temp, log_act)

    since_insert_h = (t_min - p["inserted_min"][:, None]) / 60.0
    present = since_insert_h >= 0.0
    settling = present & (since_insert_h < SETTLE_H)
    if settling.any():
        frac = np.clip(since_insert_h / SETTLE_H, 0.0, 1.0)
        temp = temp + np.where(settling, -2.5 * np.exp(-since_insert_h.clip(0) / 4.0)
                               + 0.3 * (1.0 - frac) * normal(seed, Stream.TEMP_NOISE, 7, key), 0.0)
    if cfg.temp_offset_from is not None and cfg.temp_offset_c:
        from_s = (pd.Timestamp(cfg.temp_offset_from) - pd.Timestamp(0)).total_seconds()
        temp = temp + np.where(ts_s >= from_s, cfg.temp_offset_c, 0.0)

    ph = np.full((n, SLOTS_PER_DAY), np.nan)
    ph_rows = np.flatnonzero(p["has_ph"])
    if len(ph_rows):
        ph[ph_rows] = np.round(
            p["ph_mean"][ph_rows, None] - 0.25 * _gauss(h, 9.5, 1.5) - 0.25 * _gauss(h, 21.5, 1.5)
            + 0.04 * normal(seed, Stream.PH_NOISE, key[ph_rows]), 2)

    return DaySignal(day=day, ts_s=ts_s, temp=np.round(temp, 2), activity=np.round(np.exp(log_act), 1),
                     ph=ph, present=present, on_pasture=pasture)
