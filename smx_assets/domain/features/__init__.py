"""Feature engineering for bolus streams: pure pandas/numpy, no Dagster.

Entry points:

* ``compute_features(readings, climate, profiles, baselines, bucket_range)`` — the one code path.
* ``serving.bucket_features`` / ``serving.latest_features`` — one bucket from the stores.
* ``baselines.compute_baselines`` / ``daily_hourly_stats`` + ``baselines_from_stats`` — daily baselines.
* ``labels.attach_labels`` — label columns from herd records.
"""

from smx_assets.domain.features.labels import LABEL_COLUMNS, attach_labels
from smx_assets.domain.features.pipeline import (
    FEATURE_COLUMNS,
    FEATURE_DOC,
    INDICATOR_COLUMNS,
    KEY_COLUMNS,
    LOOKBACK,
    compute_features,
)
from smx_assets.domain.features.profile import FarmRecords, load_herd_records

__all__ = [
    "FEATURE_COLUMNS", "FEATURE_DOC", "INDICATOR_COLUMNS", "KEY_COLUMNS", "LABEL_COLUMNS", "LOOKBACK",
    "FarmRecords", "attach_labels", "compute_features", "load_herd_records",
]
