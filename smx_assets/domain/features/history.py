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
from smx_assets.domain.features.daily import write_day_records, write_training_day
from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.features.storage import BASELINES, FeatureFiles
from smx_assets.domain.sensor_store.base import SensorStore


def materialise_days(store: SensorStore, live: FarmRecords, files: FeatureFiles, days: list[pd.Timestamp],
                     progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Profiles, baselines and training features of ``days``; returns rows per day."""
    say = progress or (lambda _m: None)
    out: dict[str, int] = {}
    baselines_by_day = baselines_from_store(store, days)
    for day in days:
        known, snapshot = write_day_records(live, files, day)
        baselines = baselines_by_day.get(day)
        if baselines is not None:
            files.write(baselines, BASELINES, day)
        frame = write_training_day(store, known, baselines, live, files, day)
        out[str(day.date())] = len(frame)
        say(f"  features {day.date()}: {len(frame)} rows, {len(snapshot)} animals")
    return out
