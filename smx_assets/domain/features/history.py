"""Daily features for days outside the daily partition window (a 2019 import, an old archive).

The daily partitions cover a rolling window (``defs/partitions.py``), so history older than it
cannot be a partition. Its days go through the same functions the three daily assets run,
in the same order, into the same files: ``animal_profiles`` (the records as known at day end),
``sensor_baselines`` (:func:`baselines_from_store`) and ``training_features``
(:func:`compute_features` + :func:`attach_labels`). A training run then reads them like any
materialised day; retro-scoring (``smx score``) reads the same baselines.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from smx_assets.domain.features.baselines import baselines_from_store
from smx_assets.domain.features.labels import attach_labels
from smx_assets.domain.features.pipeline import LOOKBACK, compute_features
from smx_assets.domain.features.profile import FarmRecords, active_animals, profile_features
from smx_assets.domain.features.storage import BASELINES, PROFILES, TRAINING, FeatureFiles
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import DAY


def materialise_days(store: SensorStore, live: FarmRecords, files: FeatureFiles, days: list[pd.Timestamp],
                     progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Profiles, baselines and training features of ``days``; returns rows per day."""
    say = progress or (lambda _m: None)
    out: dict[str, int] = {}
    baselines_by_day = baselines_from_store(store, days)
    for day in days:
        end = day + DAY
        known = live.known_by(end)
        files.write_records(known, day)
        ids = active_animals(known, day, end)
        snapshot = profile_features(known, pd.DataFrame({"animal_id": ids, "t": end}))
        snapshot.insert(0, "animal_id", ids)
        files.write(snapshot, PROFILES, day, "snapshot")
        baselines = baselines_by_day.get(day)
        if baselines is not None:
            files.write(baselines, BASELINES, day)
        readings = store.read_bolus(day - LOOKBACK, end)
        climate = store.read_climate(day - LOOKBACK, end)
        frame = attach_labels(compute_features(readings, climate, known, baselines, (day, end)), live)
        files.write(frame, TRAINING, day)
        out[str(day.date())] = len(frame)
        say(f"  features {day.date()}: {len(frame)} rows, {len(ids)} animals")
    return out
