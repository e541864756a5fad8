"""The raw inputs of one bucket as a scoring run could have read them.

A reading carries ``received_at``, when it reached the store. A run scored at ``scored_at``
cannot have read a reading received after that; a replay that read it would "find a
difference" that is only late data. So every input is cut at a known-at time and what was
left out is counted:

* the trailing window's readings (``LOOKBACK`` before the bucket) and climate: cut at the
  run's ``scored_at``;
* the readings under the day's baselines (days ``D-10 .. D-1``): cut at the moment the
  baseline file the run read was written (its modification time), when that is earlier; a
  reading of yesterday that arrived after today's baselines were stored did not count in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from smx_assets.domain.features.baselines import CONTEXT, DAY, N_DAYS, baselines_from_stats, daily_hourly_stats
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.sensor_store.base import SensorStore, SensorStoreError
from smx_assets.domain.time_grid import day_start


class ReplayError(RuntimeError):
    """A replay cannot be done (unknown id, model version gone, readings no longer kept,
    store unreachable): the message is the one line ``smx replay`` prints, exit status 2."""


def readings_needed_from(window_start: pd.Timestamp) -> pd.Timestamp:
    """The oldest reading time a replay of a run window starting at ``window_start`` reads: its
    first day's 10-day baselines (with the drinking-detection context before them) reach further
    back than the 26 h window."""
    return min(day_start(window_start) - N_DAYS * DAY - CONTEXT, window_start - LOOKBACK)


@dataclass
class KnownInputs:
    """One animal's readings and the climate of one run window, cut at known-at times."""

    window: pd.DataFrame  # bolus readings of [window start - LOOKBACK, window end), received by known_at
    climate: pd.DataFrame  # climate readings of the same range, received by known_at
    baselines: pd.DataFrame  # each window day's baselines, recomputed from readings received by its known-at time
    window_used: int = 0
    window_left_out: int = 0  # received after known_at: the run could not have read them
    climate_used: int = 0
    climate_left_out: int = 0
    baseline_readings_used: int = 0
    baseline_readings_left_out: int = 0

    def counts(self) -> dict[str, int]:
        return {"window_readings_used": self.window_used, "window_readings_received_later": self.window_left_out,
                "climate_readings_used": self.climate_used, "climate_readings_received_later": self.climate_left_out,
                "baseline_readings_used": self.baseline_readings_used,
                "baseline_readings_received_later": self.baseline_readings_left_out}


def _reader(store: SensorStore, name: str):  # type: ignore[no-untyped-def]
    fn = getattr(store, name, None)
    if fn is None:
        raise ReplayError(f"the sensor store {store.url_for_display} cannot say when its readings arrived "
                          f"(no {name}): nothing can be replayed from it")
    return fn


def _cut(frame: pd.DataFrame, known_at: pd.Timestamp) -> tuple[pd.DataFrame, int]:
    """The rows received by ``known_at`` (``received_at`` dropped) and how many came later."""
    later = (frame["received_at"] > known_at).to_numpy()
    kept = frame.loc[~later].drop(columns="received_at").reset_index(drop=True)
    return kept, int(later.sum())


def known_inputs(store: SensorStore, animal_id: int, window: tuple[pd.Timestamp, pd.Timestamp],
                 known_at: pd.Timestamp, baselines_known_at: dict[pd.Timestamp, pd.Timestamp]) -> KnownInputs:
    """Read and cut the inputs of ``animal_id`` over the run window ``[start, end)``: the
    trailing-window readings and climate at ``known_at``, the readings under each window day's
    baselines at ``baselines_known_at[day]`` (see the module docstring)."""
    start, end = window
    try:
        bolus = _reader(store, "read_bolus_received")(readings_needed_from(start), end, [int(animal_id)])
        climate = _reader(store, "read_climate_received")(start - LOOKBACK, end)
    except SensorStoreError as exc:
        raise ReplayError(f"sensor store unreachable: {exc}") from None
    ts = bolus["ts"]
    in_window = (ts >= start - LOOKBACK).to_numpy()
    readings, window_late = _cut(bolus.loc[in_window], known_at)
    clim, clim_late = _cut(climate, known_at)
    frames, used, late = [], 0, 0
    for day, cut_at in sorted(baselines_known_at.items()):
        history = bolus.loc[((ts >= day - N_DAYS * DAY - CONTEXT) & (ts < day)).to_numpy()]
        hist, hist_late = _cut(history, cut_at)
        frames.append(baselines_of_day(hist, day))
        used, late = used + len(hist), late + hist_late
    return KnownInputs(window=readings, climate=clim, baselines=pd.concat(frames, ignore_index=True),
                       window_used=len(readings), window_left_out=window_late, climate_used=len(clim),
                       climate_left_out=clim_late, baseline_readings_used=used, baseline_readings_left_out=late)


def baselines_of_day(readings: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The baselines of ``day`` from ``readings`` (covering its 10 previous days): the same steps,
    day by day, as ``baselines_from_store`` takes from the store, so the same numbers."""
    history = pd.date_range(day - N_DAYS * DAY, day, freq="D", inclusive="left")
    ts = readings["ts"]
    stats = []
    for s in history:
        part = readings.loc[((ts >= s - CONTEXT) & (ts < s + DAY)).to_numpy()].reset_index(drop=True)
        frame = daily_hourly_stats(part, s)
        if len(frame):
            stats.append(frame)
    all_stats = pd.concat(stats, ignore_index=True) if stats else pd.DataFrame(
        columns=["animal_id", "day", "hour", "temp_sum", "temp_n", "act_sum", "act_n"])
    return baselines_from_stats(all_stats, day)


__all__ = ["KnownInputs", "ReplayError", "baselines_of_day", "known_inputs", "readings_needed_from"]
