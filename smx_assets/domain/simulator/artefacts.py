"""What real bolus exports look like on top of the physiology: gaps, spikes, duplicates, delay.

* gaps: a share of animal-days lose a 0.5-2.5 h block, plus scattered single missing readings
  (calibrated on real collar exports: 0.5 % of 2-hour slots missing, one slot at a time);
* spikes: readings of exactly 0.0 °C and 98.98 °C, pH 14-26 on pH boluses;
* exact duplicate rows (same values, same ``received_at``);
* late delivery: when a cow is out of reach of the base station for a 2-hour block, its
  readings arrive together 0.5-6 h after the block ends; far more often on pasture.

Artefacts stay in the frame: ingestion validation must find and reject them. Every decision is
keyed by (animal, slot), (animal, day) or (animal, 2-h block), so it is window-independent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.simulator.config import SLOT_MIN, SLOTS_PER_DAY, SimConfig
from smx_assets.domain.simulator.physiology import DaySignal
from smx_assets.domain.simulator.rng import Stream, pack, uniform, uniforms3

HIGH_SPIKE_C = 98.98
LATE_BLOCK_SLOTS = 12  # 2 hours
GAP_H = (0.5, 2.5)  # length of a gap block, uniform


def day_matrices(cfg: SimConfig, animal_ids: np.ndarray, sig: DaySignal) -> dict[str, np.ndarray]:
    """One day's readings as (animal, slot) matrices with artefacts and arrival times applied.

    Keys: ts_s, temp_c, activity, ph, received_s and ``copies`` (0 = missing, 1, 2 = duplicated).
    Matrices of consecutive days concatenated along axis 1 and flattened are sorted by
    (animal, ts), which spares a sort of millions of rows.
    """
    seed = cfg.seed
    aid = animal_ids[:, None]
    k = np.arange(SLOTS_PER_DAY)[None, :]
    slot = sig.day * SLOTS_PER_DAY + k
    key = pack(aid, slot)
    temp, ph = sig.temp, sig.ph
    copies = sig.present.astype(np.int8)

    if cfg.artefacts:
        u_gap, u_start, u_len = uniforms3(seed, Stream.GAP, sig.day, animal_ids)
        gap_start = (u_start * SLOTS_PER_DAY)[:, None]
        gap_len = ((GAP_H[0] + (GAP_H[1] - GAP_H[0]) * u_len) * 60.0 / SLOT_MIN)[:, None]
        in_gap = (u_gap < cfg.gap_day_share)[:, None] & (k >= gap_start) & (k < gap_start + gap_len)
        u_drop, u_spike, u_dup = uniforms3(seed, Stream.ARTEFACT, key)
        copies = np.where(in_gap | (u_drop < cfg.drop_rate), 0, copies + (u_dup < cfg.duplicate_rate)).astype(np.int8)
        temp = np.where(u_spike < cfg.zero_spike_rate, 0.0, temp)
        temp = np.where((u_spike >= cfg.zero_spike_rate) & (u_spike < cfg.zero_spike_rate + cfg.high_spike_rate),
                        HIGH_SPIKE_C, temp)
        ph_rows = np.flatnonzero(~np.isnan(ph).all(axis=1))  # boluses with a pH sensor
        if len(ph_rows):
            u_ph, u_val, _ = uniforms3(seed, Stream.ARTEFACT, 2, key[ph_rows])
            ph = ph.copy()
            ph[ph_rows] = np.where(u_ph < cfg.ph_spike_rate, np.round(14.0 + 12.0 * u_val, 2), ph[ph_rows])

    # arrival: on time within seconds, or with the whole 2-h block hours late
    n_blocks = SLOTS_PER_DAY // LATE_BLOCK_SLOTS
    block = sig.day * n_blocks + np.arange(n_blocks)[None, :]
    late_p = cfg.late_share * np.where(sig.on_pasture, cfg.pasture_late_factor, 1.0)[:, None]
    u_late, u_delay, _ = uniforms3(seed, Stream.LATE, pack(aid, block))
    block_end_s = (block + 1) * LATE_BLOCK_SLOTS * SLOT_MIN * 60
    late = np.repeat(u_late < late_p, LATE_BLOCK_SLOTS, axis=1)
    late_at = np.repeat(block_end_s + np.floor(1800.0 + 19800.0 * u_delay), LATE_BLOCK_SLOTS, axis=1)
    late_at = late_at + (k % LATE_BLOCK_SLOTS)  # delivered one after the other
    ontime_s = sig.ts_s + np.floor(5.0 + 85.0 * uniform(seed, Stream.DELIVERY, key))
    received_s = np.where(late, late_at, ontime_s).astype(np.int64)
    return {"ts_s": sig.ts_s, "temp_c": temp, "activity": sig.activity, "ph": ph,
            "received_s": received_s, "copies": copies}


def flatten(matrices: dict[str, np.ndarray], lo_s: float, hi_s: float) -> dict[str, np.ndarray]:
    """(animal, slot) matrices -> reading columns for ``lo_s <= ts < hi_s``, duplicates repeated."""
    ts = matrices["ts_s"].ravel()
    counts = np.where((ts >= lo_s) & (ts < hi_s), matrices["copies"].ravel(), 0)
    n_animals = matrices["ts_s"].shape[0]
    animal = np.repeat(matrices["animal_id"], matrices["ts_s"].shape[1])
    return {
        "animal_id": np.repeat(animal, counts),
        "ts_ns": np.repeat(ts, counts) * 1_000_000_000,
        "temp_c": np.repeat(matrices["temp_c"].ravel(), counts),
        "activity": np.repeat(matrices["activity"].ravel(), counts),
        "ph": np.repeat(matrices["ph"].ravel(), counts),
        "received_ns": np.repeat(matrices["received_s"].ravel(), counts) * 1_000_000_000,
    } if n_animals else {k: np.array([], dtype=np.float64 if k in ("temp_c", "activity", "ph") else np.int64)
                         for k in ("animal_id", "ts_ns", "temp_c", "activity", "ph", "received_ns")}


def to_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Reading columns to the sensor-store bolus frame (plus ``received_at``)."""
    return pd.DataFrame({
        "animal_id": np.asarray(columns["animal_id"], dtype=np.int64),
        "ts": _utc(columns["ts_ns"]),
        "temp_c": np.asarray(columns["temp_c"], dtype=np.float64),
        "activity": np.asarray(columns["activity"], dtype=np.float64),
        "ph": np.asarray(columns["ph"], dtype=np.float64),
        "received_at": _utc(columns["received_ns"]),
    })


def _utc(ns: np.ndarray) -> pd.Series:
    """int64 nanoseconds -> ``datetime64[ns, UTC]`` without pandas' slow generic parser."""
    return pd.Series(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).dt.tz_localize("UTC")
