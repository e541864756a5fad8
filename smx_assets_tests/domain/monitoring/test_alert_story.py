"""The arithmetic of an alert's story on small frames whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from smx_assets.domain.monitoring.alert_story import herd_comparison, score_run, signal_summary

BUCKET = pd.Timedelta(minutes=10)
T = pd.Timestamp("2026-11-20 14:00", tz="UTC")


def test_signal_summary_compares_the_last_hours_with_the_same_hours_of_previous_days() -> None:
    ts = pd.date_range(T - pd.Timedelta(days=8), T + BUCKET, freq="10min", inclusive="left")
    # activity 10 everywhere, except 40 in the 2 h before the alert's end today; 38.5 °C, 39.5 today
    recent = ts >= T + BUCKET - pd.Timedelta(hours=2)
    readings = pd.DataFrame({"ts": ts, "activity": [40.0 if r else 10.0 for r in recent],
                             "temp_c": [39.5 if t >= T + BUCKET - pd.Timedelta(hours=6) else 38.5 for t in ts]})
    out = signal_summary(readings, T)
    assert out["activity"]["mean"] == 40.0 and out["activity"]["usual_mean"] == 10.0 and out["activity"]["ratio"] == 4.0
    assert out["temperature"]["delta_c"] == pytest.approx(1.0)
    assert out["readings_in_bucket"] == 1 and out["activity"]["readings"] == 12
    empty = signal_summary(readings.iloc[0:0], T)
    assert empty["activity"]["mean"] is None and empty["temperature"]["delta_c"] is None


def test_herd_comparison_ranks_the_inputs_furthest_from_the_herd_and_leaves_the_cow_out() -> None:
    herd = pd.DataFrame({"animal_id": range(1, 11), "a": [1.0] * 10, "b": [float(i) for i in range(1, 11)]})
    herd.loc[herd["animal_id"] == 7, ["a", "b"]] = [9.0, 5.0]  # the cow's own row is not her herd
    out = herd_comparison(herd, 7, {"a": 9.0, "b": 5.0, "missing_col": 3.0, "c": None})
    assert out["herd_animals"] == 9 and out["features_compared"] == 2
    first, second = out["top"]
    assert first["feature"] == "a" and first["share_below"] == 1.0 and first["herd_median"] == 1.0
    assert second["feature"] == "b" and second["share_below"] == pytest.approx((4 + 0.5) / 9)  # 4 below, one tie


def test_score_run_finds_the_unbroken_run_above_the_threshold_ending_at_the_alert() -> None:
    buckets = [T - k * BUCKET for k in range(6, -1, -1)]  # T-60 .. T
    s = pd.DataFrame({"bucket_start": buckets, "score": [0.9, 0.2, 0.7, 0.85, 0.9, 0.95, 0.91]})
    out = score_run(s, T, 0.8)
    assert out["buckets_above"] == 4 and pd.Timestamp(out["above_since"]) == T - 3 * BUCKET
    assert out["previous_max"] == 0.9
    gap = s.drop(index=4)  # a missing bucket breaks the run
    assert score_run(gap, T, 0.8)["buckets_above"] == 2
    assert score_run(s.iloc[0:0], T, 0.8)["buckets_above"] == 0
