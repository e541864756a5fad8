"""Helpers shared by the use-case declarations (heat, calving, fever).

Rule baselines score with a steep logistic around the rule's cut-off, so the use case's one
alert-policy threshold (tuned for the ML model's probabilities, anywhere in about 0.2-0.8)
moves the rule's effective cut-off by only a few hundredths of a unit: the registered rule is
the published rule, whichever threshold the policy uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.features.labels import attach_labels
from smx_assets.domain.features.profile import FarmRecords


def logistic(x: np.ndarray | pd.Series, cutoff: float, scale: float) -> np.ndarray:
    """1 / (1 + exp(-(x - cutoff) / scale)); NaN stays NaN (RuleModel.score maps it to 0)."""
    z = (np.asarray(x, dtype="float64") - cutoff) / scale
    with np.errstate(over="ignore", invalid="ignore"):
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def label_column(features: pd.DataFrame, records: FarmRecords, column: str) -> pd.Series:
    """The feature layer's label ``column`` (1, 0, NaN = unknown) for these rows.

    ``training_features`` already carries the label columns (computed by
    ``features.labels.attach_labels`` from the farm records as read at materialisation); a
    frame without them (e.g. serving rows, tests) is labelled from ``records`` by the same
    function, so there is one label rule per use case, owned by the feature layer.
    """
    if column in features.columns:
        return pd.to_numeric(features[column], errors="coerce").astype("float64")
    labelled = attach_labels(features[["animal_id", "bucket_start"]], records)
    return labelled[column].astype("float64")


def hist_gradient_boosting(**overrides: Any) -> Any:
    """A fast, NaN-native tree ensemble (missing baselines and gaps need no imputation).

    Early stopping is off so training is deterministic and does not carve a random validation
    split out of a time series; class imbalance is handled by negative down-sampling in
    ``training.training_rows`` (a fixed negatives-per-positive ratio keeps the score scale,
    and so the alert threshold, stable whatever the training window's size).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier  # imported lazily: rules stay light

    params: dict[str, Any] = dict(max_iter=150, learning_rate=0.08, max_leaf_nodes=31, min_samples_leaf=80,
                                  l2_regularization=1.0, early_stopping=False, random_state=0)
    params.update(overrides)
    return HistGradientBoostingClassifier(**params)
