"""A toy use case for the model-machinery tests, independent of the real feature names.

Module-level functions (not lambdas or test-local closures) because rule models are pickled by
reference and must be importable again in a fresh process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.features.profile import FarmRecords, records_from_tables
from smx_assets.domain.use_cases.base import AlertPolicy, EventMatching, RuleModel, UseCase

FEATURES = ("activity_ratio", "temp_delta")


def activity_ramp(frame: pd.DataFrame, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, linear in between."""
    return ((frame["activity_ratio"] - lo) / (hi - lo)).to_numpy()


def label_within_insemination(features: pd.DataFrame, records: FarmRecords) -> pd.Series:
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


def empty_records(**tables: pd.DataFrame) -> FarmRecords:
    """A ``FarmRecords`` with no rows except the given herd-DB tables (herd-DB column names)."""
    ts = "datetime64[ns, UTC]"
    frames = {
        "animals": pd.DataFrame({"id": pd.Series(dtype="int64"), "farm_id": pd.Series(dtype="int64"),
                                 "birth_date": pd.Series(dtype=ts), "bolus_type": pd.Series(dtype="object"),
                                 "bolus_inserted_at": pd.Series(dtype=ts), "exit_date": pd.Series(dtype=ts)}),
        "farms": pd.DataFrame({"id": pd.Series(dtype="int64"), "default_housing": pd.Series(dtype="object")}),
        "climate_sensors": pd.DataFrame({"id": pd.Series(dtype="int64"), "farm_id": pd.Series(dtype="int64"),
                                         "location": pd.Series(dtype="object")}),
        "lactations": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), "lactation_number": pd.Series(dtype="int64"),
                                    "calving_at": pd.Series(dtype=ts), "recorded_at": pd.Series(dtype=ts)}),
        "inseminations": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), "at": pd.Series(dtype=ts),
                                       "recorded_at": pd.Series(dtype=ts), "pregnancy_check_at": pd.Series(dtype=ts),
                                       "pregnant": pd.Series(dtype="object")}),
        "treatments": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), "diagnosed_at": pd.Series(dtype=ts),
                                    "diagnosis": pd.Series(dtype="object"), "recorded_at": pd.Series(dtype=ts)}),
        "housing_periods": pd.DataFrame({"animal_id": pd.Series(dtype="int64"), "kind": pd.Series(dtype="object"),
                                         "start": pd.Series(dtype=ts), "end": pd.Series(dtype=ts)}),
    }
    frames.update(tables)
    return records_from_tables(frames)
