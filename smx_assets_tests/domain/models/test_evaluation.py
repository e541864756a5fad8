"""Event-level metrics on hand-built events whose answers are worked out in the comments."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from smx_assets.domain.use_cases.base import EventMatching
from smx_assets.domain.use_cases.evaluation import (
    cow_days_from_buckets,
    evaluate_alerts,
    events_from_gt,
    row_metrics,
)

D = pd.Timestamp("2025-06-10 00:00", tz="UTC")
H = pd.Timedelta(hours=1)
CALVING = EventMatching(window_start="-36h", window_end="-6h")


def alerts(*rows: tuple[int, pd.Timestamp]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["animal_id", "bucket_start"])


def test_calving_window_hand_computed() -> None:
    events = pd.DataFrame({
        "animal_id": [1, 2, 3, 4],
        "start": [D, D, D, D + 48 * H],
        "end": [pd.NaT] * 4,
    })
    a = alerts(
        (1, D - 20 * H),  # animal 1: 20 h ahead -> true, lead 20
        (1, D - 30 * H),  # animal 1: 30 h ahead -> true too (same event), earliest -> lead 30
        (2, D - 3 * H),   # animal 2: only 3 h ahead (< 6 h) -> false
        (3, D - 36 * H),  # animal 3: exactly 36 h ahead -> window edge, true, lead 36
        (5, D),           # animal 5: no event -> false
    )
    m = evaluate_alerts(a, events, CALVING, cow_days=200.0)
    # events: 1 and 3 detected, 2 and 4 missed -> sensitivity 2/4
    assert (m.n_events, m.n_events_detected) == (4, 2)
    assert m.sensitivity == pytest.approx(0.5)
    # alerts: 3 of 5 match an event -> precision 3/5
    assert (m.n_alerts, m.n_alerts_true, m.n_alerts_false) == (5, 3, 2)
    assert m.precision == pytest.approx(0.6)
    assert m.f1 == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    # lead times of the earliest matching alert per detected event: 30 and 36
    assert m.lead_time_median_h == pytest.approx(33.0)
    assert m.lead_time_mean_h == pytest.approx(33.0)
    # 2 false alerts over 200 cow-days -> 1 per 100 cow-days
    assert m.false_alerts_per_100_cow_days == pytest.approx(1.0)


def test_heat_window_anchored_on_episode_end_and_silent_events() -> None:
    heat = EventMatching(window_start="-6h", window_end="0h", end_anchor="end")
    gt = pd.DataFrame({
        "id": [1, 2, 3, 4],
        "animal_id": [1, 2, 3, 4],
        "kind": ["heat", "heat", "heat", "calving"],
        "start": [D, D, D, D],
        "end": [D + 12 * H, D + 10 * H, D + 8 * H, None],
        "attrs": [{"intensity": 2.8}, {"silent": True}, None, None],
    })
    events = events_from_gt(gt, "heat")
    assert events["detectable"].tolist() == [True, False, True]
    a = alerts(
        (1, D + 11 * H),  # during heat 1 (ends +12) -> true, lead -11
        (2, D + 2 * H),   # on the silent heat of animal 2 -> excluded: neither true nor false
        (3, D + 9 * H),   # after heat 3 ended (+8) -> false
    )
    m = evaluate_alerts(a, events, heat, cow_days=50.0)
    assert (m.n_events, m.n_events_excluded, m.n_events_detected) == (2, 1, 1)
    assert (m.n_alerts_true, m.n_alerts_false, m.n_alerts_on_excluded) == (1, 1, 1)
    assert m.sensitivity == pytest.approx(0.5)
    assert m.precision == pytest.approx(0.5)  # 1 of the 2 counted alerts
    assert m.lead_time_median_h == pytest.approx(-11.0)  # after onset: negative lead
    assert m.false_alerts_per_100_cow_days == pytest.approx(2.0)
    # Counting silent heats: 3 events, the alert on animal 2 becomes a hit.
    m_all = evaluate_alerts(a, events, heat, cow_days=50.0, exclude_undetectable=False)
    assert (m_all.n_events, m_all.n_events_detected, m_all.n_alerts_true) == (3, 2, 2)
    assert m_all.precision == pytest.approx(2 / 3)


def test_degenerate_cases() -> None:
    events = pd.DataFrame({"animal_id": [1], "start": [D], "end": [pd.NaT]})
    none = evaluate_alerts(alerts(), events, CALVING, cow_days=10.0)
    assert none.sensitivity == 0.0 and math.isnan(none.precision) and none.f1 == 0.0
    assert math.isnan(none.lead_time_median_h) and none.false_alerts_per_100_cow_days == 0.0
    no_events = evaluate_alerts(alerts((1, D)), events.iloc[:0], CALVING, cow_days=10.0)
    assert math.isnan(no_events.sensitivity) and no_events.precision == 0.0 and math.isnan(no_events.f1)
    assert no_events.as_dict("val_")["val_n_alerts_false"] == 1.0


def test_cow_days_and_row_metrics() -> None:
    t = pd.date_range(D, periods=144, freq="10min")
    scores = pd.concat([pd.DataFrame({"animal_id": a, "bucket_start": t, "score": 0.0}) for a in (1, 2, 3)])
    assert cow_days_from_buckets(scores) == pytest.approx(3.0)
    assert row_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == {"row_auc": pytest.approx(0.75),
                                                                "row_ap": pytest.approx(0.8333333)}
    assert math.isnan(row_metrics([1, 1], [0.2, 0.3])["row_auc"])
