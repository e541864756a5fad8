"""The simulator's entry points: ``simulate(config)`` and window-wise reading generation."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smx_assets.domain.simulator import climate as climate_mod
from smx_assets.domain.simulator.artefacts import day_matrices, flatten, to_frame
from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.herd import Herd, build_herd
from smx_assets.domain.simulator.physiology import day_signal

log = logging.getLogger(__name__)

HERD_TABLES = ("farms", "climate_sensors", "animals", "housing_periods", "lactations", "inseminations",
               "treatments", "gt_events")


@dataclass
class SimulatedHerd:
    """A simulated herd: herd-DB tables, ground truth, and the window's readings.

    Tables hold the whole simulated history and future (up to the horizon); what a farm would
    have recorded by some moment is selected by the loader (``recorded_at``, pregnancy checks).
    ``bolus``/``climate`` hold every reading with ``ts`` in the window, artefacts included, and
    ``received_at`` (some arrive after the window's end).
    """

    config: SimConfig
    herd: Herd
    bolus: pd.DataFrame
    climate: pd.DataFrame

    @property
    def farms(self) -> pd.DataFrame:
        return self.herd.farms

    @property
    def climate_sensors(self) -> pd.DataFrame:
        return self.herd.climate_sensors

    @property
    def animals(self) -> pd.DataFrame:
        return self.herd.animals

    @property
    def housing_periods(self) -> pd.DataFrame:
        return self.herd.housing_periods

    @property
    def lactations(self) -> pd.DataFrame:
        return self.herd.lactations

    @property
    def inseminations(self) -> pd.DataFrame:
        return self.herd.inseminations

    @property
    def treatments(self) -> pd.DataFrame:
        return self.herd.treatments

    @property
    def gt_events(self) -> pd.DataFrame:
        return self.herd.gt_events

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self.herd, name) for name in HERD_TABLES}


def _day_range(start: pd.Timestamp, end: pd.Timestamp) -> tuple[int, int]:
    epoch = pd.Timestamp(0, tz="UTC")
    first = int(np.floor((start - epoch) / pd.Timedelta(days=1)))
    last = int(np.ceil((end - epoch) / pd.Timedelta(days=1)))
    return first, last


def bolus_readings(herd: Herd, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Raw bolus readings (artefacts, ``received_at``) with ``start <= ts < end``.

    Whole days are generated and sliced, so any split of a window gives the same rows.
    Sorted by (animal_id, ts); exact duplicates are adjacent.
    """
    first, last = _day_range(start, end)
    ids = herd.params["animal_id"]
    days = [day_matrices(herd.config, ids, day_signal(herd, d)) for d in range(first, last)]
    if days:
        matrices = {k: np.concatenate([d[k] for d in days], axis=1) for k in days[0]}
    else:
        dtypes = {"ts_s": np.int64, "temp_c": np.float64, "activity": np.float64, "ph": np.float64,
                  "received_s": np.int64, "copies": np.int8}
        matrices = {k: np.zeros((len(ids), 0), dtype=t) for k, t in dtypes.items()}
    matrices["animal_id"] = ids
    return to_frame(flatten(matrices, start.value / 1e9, end.value / 1e9))


def climate_readings(herd: Herd, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Climate readings with ``start <= ts < end`` (and ``received_at``), sorted by (sensor, ts)."""
    first, last = _day_range(start, end)
    frame = climate_mod.climate_readings(herd.config.seed, herd.climate_sensors, herd.farms, first, last,
                                         herd.config.climate_gap_rate if herd.config.artefacts else 0.0)
    if frame.empty:
        return frame
    return frame[(frame["ts"] >= start) & (frame["ts"] < end)].reset_index(drop=True)


def simulate(config: SimConfig, readings: bool = True) -> SimulatedHerd:
    """Simulate a herd and the readings of its window ``[start, start + days)``."""
    herd = build_herd(config)
    if readings:
        bolus = bolus_readings(herd, config.start_ts, config.end_ts)
        clim = climate_readings(herd, config.start_ts, config.end_ts)
    else:
        bolus = bolus_readings(herd, config.start_ts, config.start_ts)
        clim = climate_readings(herd, config.start_ts, config.start_ts)
    log.info("simulated %d animals x %d days: %d bolus, %d climate readings", config.n_animals,
             config.days, len(bolus), len(clim))
    return SimulatedHerd(config=config, herd=herd, bolus=bolus, climate=clim)
