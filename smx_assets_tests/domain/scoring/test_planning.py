"""The scoring sensor's decisions: due buckets, bounded catch-up, late-data re-scores."""

from __future__ import annotations

import pandas as pd

from smx_assets.domain.scoring.planning import (
    ScoringCursor,
    ScoringPolicy,
    fingerprint,
    latest_due_bucket,
    plan_scoring,
)

T0 = pd.Timestamp("2026-11-20 12:00", tz="UTC")
EARLIEST = pd.Timestamp("2026-09-01", tz="UTC")
POLICY = ScoringPolicy(grace=pd.Timedelta(minutes=5), max_new_per_tick=6)


def test_bucket_is_due_only_after_its_window_and_the_grace_period() -> None:
    assert latest_due_bucket(T0 + pd.Timedelta(minutes=14), POLICY.grace) == T0 - pd.Timedelta(minutes=10)
    assert latest_due_bucket(T0 + pd.Timedelta(minutes=15), POLICY.grace) == T0


def test_first_tick_requests_only_the_newest_due_bucket() -> None:
    plan = plan_scoring(ScoringCursor(), T0 + pd.Timedelta(minutes=15), POLICY, EARLIEST)
    assert [r.bucket_start for r in plan.requests] == [T0]
    assert plan.cursor.last_bucket == T0
    assert plan.skipped == []


def test_next_tick_requests_the_next_bucket_once() -> None:
    cursor = ScoringCursor(last_bucket=T0)
    plan = plan_scoring(cursor, T0 + pd.Timedelta(minutes=25), POLICY, EARLIEST)
    assert [r.bucket_start for r in plan.requests] == [T0 + pd.Timedelta(minutes=10)]
    again = plan_scoring(plan.cursor, T0 + pd.Timedelta(minutes=26), POLICY, EARLIEST)
    assert again.requests == []


def test_catch_up_is_oldest_first_and_bounded_per_tick() -> None:
    cursor = ScoringCursor(last_bucket=T0)
    now = T0 + pd.Timedelta(hours=3, minutes=15)  # 18 buckets due after T0
    seen: list[pd.Timestamp] = []
    for _ in range(5):
        plan = plan_scoring(cursor, now, POLICY, EARLIEST)
        assert len(plan.requests) <= POLICY.max_new_per_tick
        seen += [r.bucket_start for r in plan.requests]
        cursor = plan.cursor
    expected = list(pd.date_range(T0 + pd.Timedelta(minutes=10), periods=18, freq="10min"))
    assert seen == expected  # oldest first, each exactly once, none lost


def test_downtime_longer_than_max_catchup_records_the_skipped_range() -> None:
    cursor = ScoringCursor(last_bucket=T0)
    now = T0 + pd.Timedelta(days=3)
    plan = plan_scoring(cursor, now, POLICY, EARLIEST)
    assert len(plan.skipped) == 1
    start, end = plan.skipped[0]
    assert start == T0 + pd.Timedelta(minutes=10)
    assert end == latest_due_bucket(now, POLICY.grace) - POLICY.max_catchup + pd.Timedelta(minutes=10)
    assert plan.requests[0].bucket_start == end


def test_late_data_rescores_once_per_distinct_data() -> None:
    cursor = ScoringCursor(last_bucket=T0, last_late_check=T0 + pd.Timedelta(minutes=15))
    late_bucket = T0 - pd.Timedelta(hours=2)
    changed = pd.DataFrame(
        {"bucket_start": [late_bucket], "n_readings": [40], "last_received_at": [T0 + pd.Timedelta(minutes=20)]}
    )
    now = T0 + pd.Timedelta(minutes=21)
    plan = plan_scoring(cursor, now, POLICY, EARLIEST, changed)
    rescores = [r for r in plan.requests if r.reason == "late-data"]
    assert [r.bucket_start for r in rescores] == [late_bucket]
    assert rescores[0].run_key.endswith(fingerprint(40, T0 + pd.Timedelta(minutes=20)))
    # The same data reported again does not trigger a second run ...
    again = plan_scoring(plan.cursor, now + pd.Timedelta(minutes=1), POLICY, EARLIEST, changed)
    assert [r for r in again.requests if r.reason == "late-data"] == []
    # ... but more late data does, with a different run key.
    more = changed.assign(n_readings=[41], last_received_at=[T0 + pd.Timedelta(minutes=30)])
    third = plan_scoring(again.cursor, now + pd.Timedelta(minutes=11), POLICY, EARLIEST, more)
    late = [r for r in third.requests if r.reason == "late-data"]
    assert len(late) == 1 and late[0].run_key != rescores[0].run_key


def test_late_data_outside_the_horizon_or_not_yet_scored_is_ignored() -> None:
    cursor = ScoringCursor(last_bucket=T0, last_late_check=T0)
    changed = pd.DataFrame(
        {
            "bucket_start": [T0 - pd.Timedelta(days=2), T0 + pd.Timedelta(hours=5)],
            "n_readings": [10, 10],
            "last_received_at": [T0, T0],
        }
    )
    plan = plan_scoring(cursor, T0 + pd.Timedelta(minutes=26), POLICY, EARLIEST, changed)
    assert [r.reason for r in plan.requests] == ["new"]


def test_cursor_round_trips_through_json() -> None:
    cursor = ScoringCursor(last_bucket=T0, last_late_check=T0, fingerprints={T0.isoformat(): "3@x"})
    back = ScoringCursor.from_json(cursor.to_json())
    assert back.last_bucket == T0 and back.last_late_check == T0 and back.fingerprints == cursor.fingerprints
