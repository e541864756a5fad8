"""What real bolus exports look like on top of the physiology: gaps, spikes, duplicates, delay.

* gaps: a share of animal-days lose a 1-12 h block, plus scattered single missing readings;
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
from smx_assets.domain.simulator.rng import Stream, uniform

HIGH_SPIKE_C = 98.98
LATE_BLOCK_SLOTS = 12  # 2 hours


def day_frame(cfg: SimConfig, animal_ids: np.ndarray, sig: DaySignal) -> dict[str, np.ndarray]:
    """Flatten one day's signal into reading columns, applying artefacts and arrival times.

    Returns numpy columns (animal-major, time-sorted within animal): animal_id, ts_ns, temp_c,
    activity, ph, received_ns.
    """
    seed = cfg.seed
    aid = animal_ids[:, None]
    k = np.arange(SLOTS_PER_DAY)[None, :]
    slot = sig.day * SLOTS_PER_DAY + k
    temp, ph = sig.temp.copy(), sig.ph.copy()
    keep = sig.present.copy()
    n_copies = np.ones(temp.shape, dtype=np.int64)

    if cfg.artefacts:
        has_gap = uniform(seed, Stream.GAP, 0, aid, sig.day) < cfg.gap_day_share
        gap_start = uniform(seed, Stream.GAP, 1, aid, sig.day) * SLOTS_PER_DAY
        gap_len = (1.0 + 11.0 * uniform(seed, Stream.GAP, 2, aid, sig.day)) * 60.0 / SLOT_MIN
        in_gap = has_gap & (k >= gap_start) & (k < gap_start + gap_len)
        keep &= ~in_gap & (uniform(seed, Stream.ARTEFACT, 0, aid, slot) >= cfg.drop_rate)
        u = uniform(seed, Stream.ARTEFACT, 1, aid, slot)
        temp = np.where(u < cfg.zero_spike_rate, 0.0, temp)
        temp = np.where((u >= cfg.zero_spike_rate) & (u < cfg.zero_spike_rate + cfg.high_spike_rate),
                        HIGH_SPIKE_C, temp)
        ph_spike = (uniform(seed, Stream.ARTEFACT, 2, aid, slot) < cfg.ph_spike_rate) & ~np.isnan(ph)
        ph = np.where(ph_spike, np.round(14.0 + 12.0 * uniform(seed, Stream.ARTEFACT, 3, aid, slot), 2), ph)
        n_copies += uniform(seed, Stream.ARTEFACT, 4, aid, slot) < cfg.duplicate_rate

    # arrival: on time within seconds, or with the whole 2-h block hours late
    block = slot // LATE_BLOCK_SLOTS
    late_p = cfg.late_share * np.where(sig.on_pasture, cfg.pasture_late_factor, 1.0)[:, None]
    late = uniform(seed, Stream.LATE, 0, aid, block) < late_p
    block_end_s = (block + 1) * LATE_BLOCK_SLOTS * SLOT_MIN * 60
    late_delay_s = np.floor(1800.0 + 19800.0 * uniform(seed, Stream.LATE, 1, aid, block))
    ontime_s = np.floor(5.0 + 85.0 * uniform(seed, Stream.DELIVERY, aid, slot))
    received_s = np.where(late, block_end_s + late_delay_s + k % LATE_BLOCK_SLOTS, sig.ts_s + ontime_s)

    counts = np.where(keep, n_copies, 0).ravel()
    return {
        "animal_id": np.repeat(np.broadcast_to(aid, temp.shape).ravel(), counts),
        "ts_ns": np.repeat(sig.ts_s.ravel(), counts) * 1_000_000_000,
        "temp_c": np.repeat(temp.ravel(), counts),
        "activity": np.repeat(sig.activity.ravel(), counts),
        "ph": np.repeat(ph.ravel(), counts),
        "received_ns": np.repeat(received_s.astype(np.int64).ravel(), counts) * 1_000_000_000,
    }


def to_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Reading columns to the sensor-store bolus frame (plus ``received_at``)."""
    return pd.DataFrame({
        "animal_id": columns["animal_id"].astype(np.int64),
        "ts": _utc(columns["ts_ns"]),
        "temp_c": columns["temp_c"],
        "activity": columns["activity"],
        "ph": columns["ph"],
        "received_at": _utc(columns["received_ns"]),
    })


def _utc(ns: np.ndarray) -> pd.Series:
    """int64 nanoseconds -> ``datetime64[ns, UTC]`` without pandas' slow generic parser."""
    return pd.Series(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).dt.tz_localize("UTC")
