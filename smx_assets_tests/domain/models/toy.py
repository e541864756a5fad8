"""A toy use case for the model-machinery tests, independent of the real feature names.

Module-level functions (not lambdas or test-local closures) because rule models are pickled by
reference and must be importable again in a fresh process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.use_cases.base import AlertPolicy, EventMatching, HerdRecords, RuleModel, UseCase

FEATURES = ("activity_ratio", "temp_delta")


def activity_ramp(frame: pd.DataFrame, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, linear in between."""
    return ((frame["activity_ratio"] - lo) / (hi - lo)).to_numpy()


def label_within_insemination(features: pd.DataFrame, records: HerdRecords) -> pd.Series:
    """1 when the bucket lies in the 12 h before a recorded insemination of that animal."""
    y = pd.Series(0, index=features.index, dtype="int8")
    ins = records.inseminations
    t = pd.to_datetime(features["bucket_start"], utc=True)
    for _, row in ins.iterrows():
        at = pd.Timestamp(row["at"])
        y[(features["animal_id"] == row["animal_id"]) & (t >= at - pd.Timedelta(hours=12)) & (t < at)] = 1
    return y


def logistic_factory() -> Any:
    # sklearn imported here: unpickling the rule imports this module, and a rule model should
    # not pay sklearn's import time in the scoring process.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])


TOY = UseCase(
    name="toyheat",
    feature_columns=FEATURES,
    label_rule=label_within_insemination,
    model_factory=logistic_factory,
    alert_policy=AlertPolicy(threshold=0.5, refractory="12h", min_consecutive=2),
    rule_baseline=RuleModel("activity_ramp", activity_ramp, {"lo": 1.5, "hi": 2.5}, ("activity_ratio",)),
    event_matching=EventMatching(window_start="-6h", window_end="0h", end_anchor="end"),
    event_kind="heat",
)


def toy_frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Features with a learnable signal, and labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame({
        "activity_ratio": 1.0 + 1.5 * y + rng.normal(0, 0.4, n),
        "temp_delta": 0.3 * y + rng.normal(0, 0.2, n),
    })
    return X, y
