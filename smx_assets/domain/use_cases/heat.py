"""Heat (estrus): alert during the episode (a few hours early is fine).

Signal (DOMAIN.md): activity 1.5-6x baseline (median 2.8x) for 8-15 h, rumination down, bolus
temperature up 0.3-0.6 °C; heat stress weakens it. Label: the feature layer's ``label_heat``
(recorded inseminations and confirmed heat alerts; unrecorded but expected heats are NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.use_cases._common import hist_gradient_boosting, label_column, logistic
from smx_assets.domain.use_cases.base import AlertPolicy, EventMatching, RuleModel, UseCase

FEATURES = (
    "activity", "activity_mean_2h", "activity_mean_6h", "activity_mean_24h", "activity_max_2h",
    "activity_ratio_2h_24h", "activity_hod_baseline", "activity_ratio_hod", "activity_ratio_hod_2h",
    "activity_coverage_2h", "activity_ratio_hod_12h", "activity_ratio_hod_12h_min_4h",
    "activity_ratio_hod_12h_coverage",
    "temp_dev_hod_2h", "temp_delta_2h_24h", "temp_dev_10d_6h",
    "thi_mean_6h", "on_pasture", "hour_of_day", "bolus_settling", "activity_baseline_missing",
)
# No cycle/profile features (days since heat, pregnancy, days in milk): the label spans 24 h
# around the recorded insemination, so with them the model learns "about 21 days since the
# last heat" and alerts hours before onset; and days since heat resets when the farmer records
# the insemination, a feedback loop rather than a sensor signal.


def heat_label(features: pd.DataFrame, records: FarmRecords) -> pd.Series:
    """``label_heat``: 1 in ``[insemination - 18 h, + 6 h)``, NaN where a heat was expected but not recorded."""
    return label_column(features, records, "label_heat")


MIN_COVERAGE = 5 / 6  # of the 12 h window: 5 of a collar's 6 two-hour slots


def activity_over_baseline(frame: pd.DataFrame, cutoff: float, scale: float,
                           min_coverage: float = 0.0) -> np.ndarray:
    """Rule baseline: activity of the trailing 12 h over the cow's own hour-of-day baseline above
    ``cutoff`` (x) for 4 h on end (``activity_ratio_hod_12h_min_4h``), trusted only where at least
    ``min_coverage`` of the 12 h window has readings (``activity_ratio_hod_12h_coverage``).

    Activity only, relative to the cow herself, so the one rule runs unchanged on a 10-minute
    bolus and on a 2-hour neck collar without temperature. Chosen on the first two real weekly
    collar exports only, by the protocol fixed in ``bench/heat_protocol.md`` before the third
    week was computed (``bench/sweep_heat_candidates.py``: highest mean held-out F1 over the two
    leave-one-week-out folds); the third week is the report (``bench/evaluate_real.py``).
    """
    score = logistic(frame["activity_ratio_hod_12h_min_4h"], cutoff, scale)
    if min_coverage > 0:
        # a small tolerance: 60/72 cells must pass a 5/6 cut-off whatever the rounding
        covered = frame["activity_ratio_hod_12h_coverage"].to_numpy(dtype="float64") >= min_coverage - 1e-9
        score = np.where(covered, score, 0.0)
    return score


HEAT = UseCase(
    name="heat",
    feature_columns=FEATURES,
    label_rule=heat_label,
    model_factory=hist_gradient_boosting,
    # 12 h refractory would let a long heat alert twice; 36 h still catches the next cycle (18-24 d).
    alert_policy=AlertPolicy(threshold=0.8, refractory="36h", min_consecutive=2),  # tuned on seed 23
    rule_baseline=RuleModel("activity_over_hod_baseline_12h", activity_over_baseline,
                            {"cutoff": 1.3, "scale": 0.05, "min_coverage": MIN_COVERAGE},
                            ("activity_ratio_hod_12h_min_4h", "activity_ratio_hod_12h_coverage")),
    event_matching=EventMatching(window_start="-6h", window_end="0h", end_anchor="end"),
    event_kind="heat",
    description="Estrus: activity and temperature rise over the cow's own baseline.",
    required_signals=("activity",),  # skipped for herds without them
)
