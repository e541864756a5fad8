"""Fever (mastitis, metritis, pneumonia, ...): alert within 24 h of onset.

Signal (DOMAIN.md): temperature ramps over 6-24 h to +0.8-2.0 °C above the cow's baseline for
1-4 days; rumination and activity fall. Milk fever (a temperature *drop*) is not a fever.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.use_cases._common import hist_gradient_boosting, label_column, logistic
from smx_assets.domain.use_cases.base import AlertPolicy, EventMatching, RuleModel, UseCase

FEATURES = (
    "temp_dev_10d_2h", "temp_dev_10d_6h", "temp_dev_hod", "temp_dev_hod_2h", "temp_clean_mean_2h",
    "temp_clean_mean_6h", "temp_clean_mean_24h", "temp_delta_2h_24h", "temp_clean_std_24h",
    "temp_baseline_10d", "activity_ratio_hod_2h", "activity_ratio_2h_24h", "activity_mean_6h",
    "thi", "thi_mean_6h", "days_in_milk", "days_pregnant", "hour_of_day", "temp_clean_coverage_2h",
    "drinking_bouts_24h", "baseline_10d_missing", "baseline_missing",
)


def fever_label(features: pd.DataFrame, records: FarmRecords) -> pd.Series:
    """``label_fever``: 1 in ``[diagnosis - 48 h, + 24 h)`` of a febrile diagnosis, NaN in the uncertain margins."""
    return label_column(features, records, "label_fever")


def rise_over_10d_baseline(frame: pd.DataFrame, rise_c: float, scale: float) -> np.ndarray:
    """Rule baseline, the common bolus rule: 2 h temperature ``rise_c`` °C over the 10-day baseline."""
    return logistic(frame["temp_dev_10d_2h"], rise_c, scale)


FEVER = UseCase(
    name="fever",
    feature_columns=FEATURES,
    label_rule=fever_label,
    model_factory=hist_gradient_boosting,
    # An episode lasts 1-4 days: a shorter refractory would alert twice on one fever.
    alert_policy=AlertPolicy(threshold=0.5, refractory="96h", min_consecutive=3),
    rule_baseline=RuleModel("rise_over_10d_baseline", rise_over_10d_baseline,
                            {"rise_c": 0.8, "scale": 0.03}, ("temp_dev_10d_2h",)),
    # Onset is exact in simulated ground truth; 6 h of slack for the ramp's first buckets.
    event_matching=EventMatching(window_start="-6h", window_end="24h"),
    event_kind="fever",
    description="Fever: temperature over the cow's baselines, activity down.",
    required_signals=("temperature",),  # skipped for herds without them
)
