"""What a simulated herd looks like: size, window, seed, and the knobs tests and drift use.

Everything random is derived from ``seed``; the window (``start``, ``days``) only selects which
part of the (window-independent) herd history is turned into readings, so the same seed and
start give the same animals and events whatever ``days`` is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import pandas as pd

SLOT_MIN = 10  # a bolus reports every 10 minutes
SLOTS_PER_DAY = 24 * 60 // SLOT_MIN
HISTORY_DAYS = 420  # how far before ``start`` the herd history (calvings, inseminations) reaches
HORIZON_MARGIN_DAYS = 60  # events are laid out this far past the window's end


@dataclass(frozen=True)
class SimConfig:
    """Parameters of one simulated herd.

    Rates are per reading unless the name says otherwise. Ids start at ``first_*_id`` so a second
    herd (e.g. issue 6's hotter farm) can be written next to the first without clashing.
    """

    n_animals: int = 100
    days: int = 30
    seed: int = 0
    start: dt.date = dt.date(2024, 6, 1)
    n_farms: int = 2
    ph_share: float = 0.1  # share of boluses with a pH sensor
    late_share: float = 0.03  # share of barn readings arriving hours late (pasture: x factor)
    pasture_late_factor: float = 4.0
    pasture_farm_share: float = 0.5  # farms whose cows graze mid-April to mid-October
    new_bolus_share: float = 0.03  # boluses inserted in the 30 days from start (24 h settling)
    # events
    silent_heat_share: float = 0.15
    heat_detection_rate: float = 0.7  # farmer sees a non-silent heat (silent: 5%)
    conception_rate: float = 0.4
    mastitis_per_cow_year: float = 0.3
    metritis_share: float = 0.15
    milk_fever_share: float = 0.04
    # artefacts
    artefacts: bool = True
    zero_spike_rate: float = 5e-4  # readings of exactly 0.0 °C
    high_spike_rate: float = 3e-4  # readings of exactly 98.98 °C
    ph_spike_rate: float = 2e-3  # pH readings 14..26 (pH boluses only)
    duplicate_rate: float = 2e-3  # exact duplicate rows
    drop_rate: float = 3e-3  # single missing readings
    gap_day_share: float = 0.1  # animal-days with a 0.5-2.5 h gap (artefacts.GAP_H)
    climate_gap_rate: float = 2e-3
    # ids (lets several herds share one database)
    first_farm_id: int = 1
    first_animal_id: int = 1
    first_sensor_id: int = 1
    # drift injection (issue 6)
    extra_heat_c: float = 0.0  # added to every farm's outdoor air temperature
    temp_offset_from: dt.date | None = None  # firmware bug: bolus temperature offset from this date
    temp_offset_c: float = 0.0
    farm_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.n_animals < 1 or self.days < 0 or self.n_farms < 1:
            raise ValueError("n_animals and n_farms must be >= 1 and days >= 0")
        if self.n_farms > self.n_animals:
            raise ValueError("n_farms cannot exceed n_animals")

    @property
    def start_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.start).tz_localize("UTC")

    @property
    def end_ts(self) -> pd.Timestamp:
        return self.start_ts + pd.Timedelta(days=self.days)

    @property
    def start_day(self) -> int:
        """Days since the Unix epoch; the simulator's day index."""
        return int((pd.Timestamp(self.start) - pd.Timestamp(0)).days)

    @property
    def animal_ids(self) -> range:
        return range(self.first_animal_id, self.first_animal_id + self.n_animals)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, stored in ``simulation_state`` so live mode can rebuild the herd."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["temp_offset_from"] = self.temp_offset_from.isoformat() if self.temp_offset_from else None
        out["farm_names"] = list(self.farm_names)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        kw["start"] = dt.date.fromisoformat(str(kw["start"]))
        if kw.get("temp_offset_from"):
            kw["temp_offset_from"] = dt.date.fromisoformat(str(kw["temp_offset_from"]))
        kw["farm_names"] = tuple(kw.get("farm_names") or ())
        return cls(**kw)
