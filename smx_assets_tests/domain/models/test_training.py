"""Pure training helpers and the catalog: time split without leakage, label-span events,
negative down-sampling, rule baselines' published cut-offs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.features import FEATURE_COLUMNS
from smx_assets.domain.use_cases.catalog import all_use_cases, use_case
from smx_assets.domain.use_cases.evaluation import events_from_labels
from smx_assets.domain.use_cases.training import time_split, training_rows
from smx_assets_tests.domain.models.toy import empty_records

T0 = pd.Timestamp("2026-09-01", tz="UTC")


def _frame(days: int = 6, animals: int = 2) -> pd.DataFrame:
    t = pd.date_range(T0, periods=days * 144, freq="10min")
    return pd.DataFrame({"animal_id": np.repeat(np.arange(1, animals + 1), len(t)), "bucket_start": np.tile(t, animals)})


def test_catalog_registers_once_and_uses_real_feature_columns() -> None:
    ucs = all_use_cases()
    assert [u.name for u in ucs] == ["heat", "calving", "fever"]
    assert all_use_cases() == ucs and all(use_case(u.name) is u for u in ucs)
    for uc in ucs:
        assert set(uc.feature_columns) <= set(FEATURE_COLUMNS)
        assert set(uc.rule_baseline.feature_columns) <= set(uc.feature_columns) | set(FEATURE_COLUMNS)
    with pytest.raises(KeyError):
        use_case("mastitis")


def test_rule_baselines_fire_at_their_published_cut_offs() -> None:
    fever, heat, calving = use_case("fever"), use_case("heat"), use_case("calving")
    f = pd.DataFrame({"temp_dev_10d_2h": [0.5, 0.75, 0.85, 1.5, np.nan]})
    assert (fever.rule_baseline.score(f) >= fever.alert_policy.threshold).tolist() == [False, False, True, True, False]
    h = pd.DataFrame({"activity_ratio_hod_12h_min_4h": [1.0, 1.3, 1.45, 3.0, 3.0, 3.0],
                      "activity_ratio_hod_12h_coverage": [1.0, 1.0, 1.0, 1.0, 60 / 72, 59 / 72]})
    # above 1.3x held 4 h, and only where 5 of the 6 two-hour slots of the 12 h window have a reading
    assert (heat.rule_baseline.score(h) >= heat.alert_policy.threshold).tolist() == [False, False, True, True,
                                                                                      True, False]
    c = pd.DataFrame({"temp_dev_hod_2h": [-0.5, -0.5, 0.0], "days_pregnant": [278.0, 200.0, 278.0]})
    assert (calving.rule_baseline.score(c) >= calving.alert_policy.threshold).tolist() == [True, False, False]


def test_time_split_keeps_a_gap_and_never_overlaps() -> None:
    frame = _frame(days=6)
    train, ev, split = time_split(frame, eval_days=2, gap_days=1)
    assert split.train_days == ["2026-09-01", "2026-09-02", "2026-09-03"]
    assert split.gap_days == ["2026-09-04"] and split.eval_days == ["2026-09-05", "2026-09-06"]
    assert train["bucket_start"].max() < T0 + pd.Timedelta(days=3) <= ev["bucket_start"].min() - pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="at least"):
        time_split(frame, eval_days=5, gap_days=1)


def test_events_from_label_spans() -> None:
    frame = _frame(days=2, animals=1)
    y = pd.Series(0.0, index=frame.index)
    y.iloc[10:20] = 1.0  # an event
    y.iloc[20:25] = np.nan  # its uncertain margin: same span
    y.iloc[100:110] = np.nan  # expected but unrecorded: undetectable
    ev = events_from_labels(frame, y)
    assert ev["detectable"].tolist() == [True, False]
    assert ev["start"].iloc[0] == T0 + pd.Timedelta(minutes=100)
    assert ev["end"].iloc[0] == T0 + pd.Timedelta(minutes=250)


def test_training_rows_keep_positives_drop_unknown_and_downsample_negatives() -> None:
    frame = _frame(days=3, animals=4)
    frame["label_heat"] = 0.0
    frame.loc[frame.index[:50], "label_heat"] = 1.0
    frame.loc[frame.index[50:80], "label_heat"] = np.nan
    for c in use_case("heat").feature_columns:
        frame[c] = 0.0
    X, y, counts = training_rows(use_case("heat"), frame, empty_records(), negatives_per_positive=30, seed=1)
    assert counts["rows_positive"] == 50 and counts["rows_label_unknown"] == 30
    assert counts["rows_negative_used"] == 1500 and len(X) == len(y) == 1550 and y.sum() == 50
    X2, _, _ = training_rows(use_case("heat"), frame, empty_records(), negatives_per_positive=30, seed=1)
    assert X.index.equals(X2.index)  # seeded
