"""The use-case declaration: validation, label contract, rule scoring, delayed records."""

from __future__ import annotations

import pandas as pd
import pytest

from smx_assets.domain.use_cases import catalog
from smx_assets.domain.use_cases.base import AlertPolicy, EventMatching, RuleModel, UseCase
from smx_assets_tests.domain.models.toy import TOY, activity_ramp, empty_records


def test_toy_use_case_names_and_policies() -> None:
    assert TOY.model_name == "smx-toyheat"
    assert TOY.rule_model_name == "smx-toyheat-rule"
    assert TOY.alert_policy.refractory == pd.Timedelta(hours=12)
    assert TOY.alert_policy.lookback == pd.Timedelta(minutes=20)
    assert TOY.event_matching.window_start == pd.Timedelta(hours=-6)
    assert hasattr(TOY.new_model(), "fit")


def test_registry_rejects_duplicates_and_names_known_use_cases() -> None:
    assert catalog.index_by_name([TOY]) == {"toyheat": TOY}
    with pytest.raises(ValueError, match="already registered"):
        catalog.index_by_name([TOY, TOY])
    with pytest.raises(KeyError, match="heat, calving, fever"):
        catalog.use_case("nope")


@pytest.mark.parametrize("kwargs", [
    {"threshold": 1.5}, {"threshold": 0.5, "min_consecutive": 0}, {"threshold": 0.5, "refractory": "bogus"},
])
def test_alert_policy_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        AlertPolicy(**kwargs)


def test_event_matching_validation() -> None:
    with pytest.raises(ValueError):
        EventMatching(window_start="-6h", window_end="-36h")  # calving window written backwards


def test_use_case_validation() -> None:
    with pytest.raises(ValueError, match="feature_columns"):
        UseCase(name="x1", feature_columns=(), label_rule=TOY.label_rule, model_factory=TOY.model_factory,
                alert_policy=TOY.alert_policy, rule_baseline=TOY.rule_baseline, event_matching=TOY.event_matching)
    with pytest.raises(ValueError, match="name"):
        UseCase(name="Bad Name", feature_columns=("a",), label_rule=TOY.label_rule,
                model_factory=TOY.model_factory, alert_policy=TOY.alert_policy,
                rule_baseline=TOY.rule_baseline, event_matching=TOY.event_matching)


def test_rule_scores_are_clipped_and_nan_safe() -> None:
    rule = RuleModel("r", activity_ramp, {"lo": 1.0, "hi": 3.0}, ("activity_ratio",))
    frame = pd.DataFrame({"activity_ratio": [0.0, 2.0, 9.0, float("nan")]})
    assert rule.score(frame).tolist() == [0.0, 0.5, 1.0, 0.0]
    with pytest.raises(KeyError):
        rule.score(pd.DataFrame({"other": [1.0]}))


def _features() -> pd.DataFrame:
    t = pd.date_range("2025-03-01", periods=6 * 24, freq="10min", tz="UTC")
    return pd.DataFrame({"animal_id": 7, "bucket_start": t, "activity_ratio": 1.0, "temp_delta": 0.0})


def test_labels_use_only_records_entered_in_time() -> None:
    feats = _features()
    ins = pd.DataFrame({"animal_id": [7], "at": [pd.Timestamp("2025-03-01 20:00", tz="UTC")],
                        "recorded_at": [pd.Timestamp("2025-03-03", tz="UTC")], "pregnancy_check_at": [pd.NaT],
                        "pregnant": [None]})
    records = empty_records(inseminations=ins)
    y = TOY.labels(feats, records)
    assert y.sum() == 12 * 6  # the 12 h before the insemination, 6 buckets an hour
    # not yet recorded on the 2nd: the records as the farm software held them then have no label
    assert TOY.labels(feats, records.known_by(pd.Timestamp("2025-03-02", tz="UTC"))).sum() == 0


def test_label_contract_is_enforced() -> None:
    bad = UseCase(name="bad", feature_columns=("a",), label_rule=lambda f, r: pd.Series(0.5, index=f.index),
                  model_factory=TOY.model_factory, alert_policy=TOY.alert_policy,
                  rule_baseline=TOY.rule_baseline, event_matching=TOY.event_matching)
    with pytest.raises(ValueError, match="0/1"):
        bad.labels(_features(), empty_records())


def test_unknown_labels_are_nan_and_left_out_of_training() -> None:
    def some_unknown(f: pd.DataFrame, r: object) -> pd.Series:
        return pd.Series([1.0, float("nan"), 0.0] * (len(f) // 3), index=f.index)

    uc = UseCase(name="partial", feature_columns=("a",), label_rule=some_unknown, model_factory=TOY.model_factory,
                 alert_policy=TOY.alert_policy, rule_baseline=TOY.rule_baseline, event_matching=TOY.event_matching)
    feats = _features()
    assert uc.labels(feats, empty_records()).isna().sum() == len(feats) // 3
    known = uc.known_labels(feats, empty_records())
    assert len(known) == 2 * len(feats) // 3 and known.dtype == "int8" and set(known) == {0, 1}
