"""Serving: the feature vectors of one bucket (normally the latest) for all animals, from the stores.

It reads only what the bucket needs — the trailing ``LOOKBACK`` (26 h) of bolus and climate
readings — plus the stored baselines of the bucket's day, and runs the very same
``compute_features`` as training. Ten days of history are never rescanned: that is what the
daily ``sensor_baselines`` asset is for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from smx_assets.domain.features.pipeline import LOOKBACK, compute_features
from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import BUCKET, day_start, floor_bucket, utc

log = logging.getLogger(__name__)


def last_complete_bucket(now: pd.Timestamp | str | None = None) -> pd.Timestamp:
    """The latest bucket that has ended at ``now`` (14:07 -> 13:50, the bucket 13:50–14:00)."""
    t = utc(now) if now is not None else pd.Timestamp.now(tz="UTC")
    return floor_bucket(t) - BUCKET


def bucket_features(
    store: SensorStore,
    records: FarmRecords,
    baselines: pd.DataFrame | FeatureFiles | None,
    bucket: pd.Timestamp | str,
    animal_ids: Sequence[int] | None = None,
    known_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Feature vectors of one bucket for all (or the given) animals, reading the trailing window only.

    ``baselines``: the stored baselines frame, or the ``FeatureFiles`` to read the bucket's day from.
    Missing baselines give NaN baseline features with their ``*_missing`` indicators set.
    ``known_at``: only readings received by then (the readings a scoring run at that time saw).
    For given animals only their farms' climate sensors are read: ``compute_features`` uses no
    other (one cow's request reads one farm's climate, not the fleet's).
    """
    b = floor_bucket(bucket)
    if isinstance(baselines, FeatureFiles):
        baselines = baselines.read_baselines([day_start(b)])
        if baselines is None:
            log.warning("no sensor_baselines for %s: baseline features are missing", day_start(b).date())
    start, end = b - LOOKBACK, b + BUCKET
    sensor_ids = None
    if animal_ids is not None:
        farms = records.animals.loc[records.animals["animal_id"].isin(list(animal_ids)), "farm_id"]
        sensor_ids = records.sensors.loc[records.sensors["farm_id"].isin(farms), "sensor_id"].astype("int64").tolist()
    if known_at is None:  # the stores' plain read (any SensorStore, known_at or not)
        readings = store.read_bolus(start, end, animal_ids)
        climate = store.read_climate(start, end, sensor_ids)
    else:
        readings = store.read_bolus(start, end, animal_ids, known_at=known_at)
        climate = store.read_climate(start, end, sensor_ids, known_at=known_at)
    return compute_features(readings, climate, records, baselines, (b, end), animal_ids=animal_ids)


def latest_features(
    store: SensorStore,
    records: FarmRecords,
    baselines: pd.DataFrame | FeatureFiles | None,
    now: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """The serving entry point: feature vectors of the last completed bucket at ``now``."""
    return bucket_features(store, records, baselines, last_complete_bucket(now))
