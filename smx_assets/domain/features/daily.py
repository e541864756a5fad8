"""The per-day steps of the daily feature assets, in one place.

``animal_profiles`` and ``training_features`` (Dagster, days inside the partition window) and
:func:`smx_assets.domain.features.history.materialise_days` (days before it, e.g. a 2019 import)
must write exactly the same files for a day, or a model trained on imported history would see
other features than the one trained on partitions. Both call these two functions.
"""

from __future__ import annotations

import pandas as pd

from smx_assets.domain.features.labels import attach_labels
from smx_assets.domain.features.pipeline import LOOKBACK, compute_features
from smx_assets.domain.features.profile import FarmRecords, active_animals, profile_features
from smx_assets.domain.features.storage import PROFILES, TRAINING, FeatureFiles
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import DAY


def write_day_records(records: FarmRecords, files: FeatureFiles, day: pd.Timestamp) -> tuple[FarmRecords, pd.DataFrame]:
    """Store the records as known at the day's end and one profile row per active animal.

    Returns (records known by day end, profile snapshot with ``animal_id`` first).
    """
    end = day + DAY
    known = records.known_by(end)
    files.write_records(known, day)
    ids = active_animals(known, day, end)
    snapshot = profile_features(known, pd.DataFrame({"animal_id": ids, "t": end}))
    snapshot.insert(0, "animal_id", ids)
    files.write(snapshot, PROFILES, day, "snapshot")
    return known, snapshot


def write_training_day(store: SensorStore, known: FarmRecords, baselines: pd.DataFrame | None,
                       live: FarmRecords, files: FeatureFiles, day: pd.Timestamp) -> pd.DataFrame:
    """Features of every bucket of ``day`` from the day's records and baselines, labelled from
    ``live`` (labels may look ahead: a calving confirms the days before it), stored and returned."""
    end = day + DAY
    readings = store.read_bolus(day - LOOKBACK, end)
    climate = store.read_climate(day - LOOKBACK, end)
    frame = attach_labels(compute_features(readings, climate, known, baselines, (day, end)), live)
    files.write(frame, TRAINING, day)
    return frame
