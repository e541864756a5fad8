"""Pure monitoring logic: delayed labels, retraining decisions, alert-volume verdicts, lineage."""

from __future__ import annotations

import math

import pandas as pd

from smx_assets.domain.features.profile import FarmRecords, normalise_records
from smx_assets.domain.monitoring import alert_volume as av
from smx_assets.domain.monitoring.lineage import metric, training_days_from_run
from smx_assets.domain.monitoring.performance import PerformancePolicy, live_performance
from smx_assets.domain.monitoring.retraining import (
    CheckEvaluation,
    RetrainingCursor,
    RetrainingPolicy,
    missing_days,
    plan_retraining,
)

T0 = pd.Timestamp("2026-09-01", tz="UTC")
D, H = pd.Timedelta(days=1), pd.Timedelta(hours=1)


def _records(calvings: list[tuple[int, pd.Timestamp, pd.Timestamp]]) -> FarmRecords:
    empty = lambda cols: pd.DataFrame({c: [] for c in cols})  # noqa: E731
    return normalise_records(FarmRecords(
        animals=empty(["animal_id", "farm_id", "birth_date", "bolus_type", "bolus_inserted_at", "exit_date"]),
        farms=empty(["farm_id", "default_housing"]), sensors=empty(["sensor_id", "farm_id", "location"]),
        lactations=pd.DataFrame([{"animal_id": a, "lactation_number": 2, "calving_at": at, "recorded_at": rec}
                                 for a, at, rec in calvings]),
        inseminations=empty(["animal_id", "at", "recorded_at", "pregnancy_check_at", "pregnant"]),
        treatments=empty(["animal_id", "diagnosed_at", "diagnosis", "recorded_at"]),
        housing=empty(["animal_id", "kind", "start", "end"]),
    ))


def test_performance_uses_only_labels_arrived_by_the_cutoff() -> None:
    # Two calvings in the window, both alerted 20 h ahead; the second is *entered* late.
    calvings = [(1, T0 + 3 * D, T0 + 3 * D + 2 * H), (2, T0 + 5 * D, T0 + 12 * D)]
    alerts = pd.DataFrame({"id": [10, 11, 12], "animal_id": [1, 2, 3],
                           "bucket_start": [T0 + 3 * D - 20 * H, T0 + 5 * D - 20 * H, T0 + 6 * D],
                           "model_version": "4"})
    feedback = pd.DataFrame({"alert_id": [10, 12], "verdict": ["confirmed", "rejected"],
                             "given_at": [T0 + 4 * D, T0 + 20 * D]})
    coverage = pd.DataFrame({"day": pd.date_range(T0, T0 + 10 * D, freq="D"), "model_version": "4",
                             "animal_buckets": 3 * 144})
    policy = PerformancePolicy(window_days=10, label_delay_days=0, min_events=1, min_alerts=1, tolerance=0.1)
    kw = dict(use_case="calving", kind="calving", records=_records(calvings), alerts=alerts, feedback=feedback,
              coverage=coverage, policy=policy, training_metrics={"4": {"precision": 0.9, "sensitivity": 0.9}})

    early = live_performance(cutoff=T0 + 10 * D, **kw)[0]  # the second calving is not entered yet
    assert (early.n_events, early.n_events_detected) == (1, 1)
    assert early.sensitivity == 1.0 and early.precision == 1 / 3
    assert early.n_feedback == 1 and early.precision_feedback == 1.0  # the rejection comes on day 20
    assert early.lead_time_median_h == 20.0
    assert any(d.startswith("precision") for d in early.degraded)

    late = live_performance(cutoff=T0 + 21 * D, **{**kw, "policy": PerformancePolicy(
        window_days=21, label_delay_days=0, min_events=1, min_alerts=1, tolerance=0.1)})[0]
    assert late.n_events == 2 and late.precision == 2 / 3
    assert late.n_feedback == 2 and late.precision_feedback == 0.5


def test_performance_splits_by_model_version() -> None:
    calvings = [(1, T0 + 2 * D, T0 + 2 * D), (2, T0 + 6 * D, T0 + 6 * D)]
    alerts = pd.DataFrame({"id": [1, 2], "animal_id": [1, 2],
                           "bucket_start": [T0 + 2 * D - 10 * H, T0 + 6 * D - 10 * H], "model_version": ["1", "2"]})
    coverage = pd.DataFrame({"day": pd.date_range(T0, T0 + 9 * D, freq="D"),
                             "model_version": ["1"] * 4 + ["2"] * 6, "animal_buckets": 144})
    out = live_performance(use_case="calving", kind="calving", records=_records(calvings), alerts=alerts,
                           feedback=pd.DataFrame(columns=["alert_id", "verdict", "given_at"]), coverage=coverage,
                           cutoff=T0 + 10 * D, policy=PerformancePolicy(window_days=10, label_delay_days=0))
    by = {p.model_version: p for p in out}
    assert set(by) == {"1", "2"} and all(p.n_events == 1 and p.sensitivity == 1.0 for p in out)
    assert by["1"].cow_days == 4.0 and by["2"].degraded == []  # no training metrics: nothing to judge


def test_retraining_plan_backfills_then_trains_once_per_interval() -> None:
    policy = RetrainingPolicy(min_interval=pd.Timedelta(hours=24), training_days=5)
    assert missing_days({"2026-09-02", "2026-09-03"}, T0 + 5 * D, policy) == [T0, T0 + 3 * D, T0 + 4 * D]
    fail = CheckEvaluation("drift_report:drift_share", 7, passed=False, severity="ERROR")
    warn = CheckEvaluation("drift_report:drift_share", 6, passed=False, severity="WARN")

    plan = plan_retraining(RetrainingCursor(), T0, [warn], [], policy)
    assert not plan.train and not plan.backfill_days  # warnings are for people

    plan = plan_retraining(RetrainingCursor(), T0, [warn, fail], [T0 - D], policy)
    assert plan.backfill_days == [T0 - D] and not plan.train
    cursor = plan.cursor
    cursor.pending_backfill_run_id = "run-1"
    waiting = plan_retraining(cursor, T0 + H, [fail], [], policy, pending_status="STARTED")
    assert not waiting.train and waiting.cursor.pending_backfill_run_id == "run-1"
    done = plan_retraining(waiting.cursor, T0 + 2 * H, [fail], [], policy, pending_status="SUCCESS")
    assert done.train and done.cursor.pending_backfill_run_id is None

    again = CheckEvaluation("model_performance:performance_vs_training", 9, passed=False, severity="ERROR")
    suppressed = plan_retraining(done.cursor, T0 + 3 * H, [again], [], policy)
    assert not suppressed.train and "suppressed" in suppressed.notes[0]
    later = CheckEvaluation("drift_report:drift_share", 12, passed=False, severity="ERROR")
    next_day = plan_retraining(suppressed.cursor, T0 + 25 * H, [later], [], policy)
    assert next_day.train and next_day.cursor.triggers == 2
    assert RetrainingCursor.from_json(next_day.cursor.to_json()) == next_day.cursor


def test_alert_volume_verdicts() -> None:
    policy = av.VolumePolicy()
    hist = pd.DataFrame({"day": pd.date_range(T0, T0 + 6 * D, freq="D"), "use_case": "heat",
                         "alerts": [5, 6, 4, 5, 6, 5, 4], "animals": 100})
    rate, source = av.expected_rate(hist, "heat", T0 + 7 * D, policy)
    assert rate == 0.05 and "7 days" in source
    assert av.judge("heat", 7, 100, rate, source, policy).status == "ok"
    assert av.judge("heat", 25, 100, rate, source, policy).status == "jump"
    assert av.judge("heat", 0, 100, rate, source, policy).status == "collapse"
    assert av.judge("heat", 2, 100, 0.01, source, policy).status == "ok"  # 1 expected, 2 seen: noise
    rate, source = av.expected_rate(hist, "heat", T0 + D, policy, {"n_alerts": 30.0, "cow_days": 600.0})
    assert rate == 0.05 and "training" in source
    assert av.expected_rate(hist, "fever", T0 + D, policy) == (None, "no baseline yet")


def test_training_lineage_and_metric_lookup() -> None:
    days, src = training_days_from_run({"train_first_day": "2026-09-01", "train_last_day": "2026-09-03"}, {})
    assert days == [pd.Timestamp("2026-09-01") + k * pd.Timedelta(days=1) for k in range(3)]
    assert src == "train_first_day/train_last_day"
    days, src = training_days_from_run({}, {}, ["training_features 2026-09-05", "x"])
    assert days == [pd.Timestamp("2026-09-05")] and src == "mlflow dataset inputs"
    assert training_days_from_run({}, {}) == ([], "none")
    assert metric({"precision": 0.5, "test_precision": 0.7}, "precision") == 0.7
    assert math.isnan(metric({}, "precision"))
