"""The scoring sensor's decisions: newest bucket first, ranged catch-up, late data exactly once."""

from __future__ import annotations

import pandas as pd

from smx_assets.domain.scoring.planning import (
    PRIORITY,
    RunState,
    ScoringCursor,
    ScoringPolicy,
    fingerprint,
    latest_due_bucket,
    plan_scoring,
)
from smx_assets.domain.scoring.reads import BucketRead

T0 = pd.Timestamp("2026-11-20 12:00", tz="UTC")
EARLIEST = pd.Timestamp("2026-09-01", tz="UTC")
POLICY = ScoringPolicy(grace=pd.Timedelta(minutes=5), max_new_per_tick=6)
BUCKET = pd.Timedelta(minutes=10)


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


def test_newest_bucket_first_then_the_backlog_in_ranged_catch_up_runs() -> None:
    """Priority order: the newest due bucket is requested first (priority 5), the 18 buckets
    behind it in catch-up ranges of at most max_new_per_tick (priority 0), one range in flight
    at a time, oldest first, each bucket exactly once."""
    cursor = ScoringCursor(last_bucket=T0)
    now = T0 + pd.Timedelta(hours=3, minutes=15)
    due = latest_due_bucket(now, POLICY.grace)
    plan = plan_scoring(cursor, now, POLICY, EARLIEST)
    assert [(r.reason, r.bucket_start, r.last) for r in plan.requests] == [
        ("new", due, due), ("catch-up", T0 + BUCKET, T0 + 6 * BUCKET)]
    assert [r.priority for r in plan.requests] == [PRIORITY["new"], PRIORITY["catch-up"]] == [5, 0]
    seen = list(plan.requests[1].buckets)
    cursor = plan.cursor
    # while a catch-up run is queued or running, no second one is requested
    assert plan_scoring(cursor, now, POLICY, EARLIEST, state=RunState(catchup_in_flight=True)).requests == []
    for _ in range(5):
        plan = plan_scoring(cursor, now, POLICY, EARLIEST)
        assert all(r.reason == "catch-up" and len(r.buckets) <= POLICY.max_new_per_tick for r in plan.requests)
        seen += [b for r in plan.requests for b in r.buckets]
        cursor = plan.cursor
    assert seen == list(pd.date_range(T0 + BUCKET, due - BUCKET, freq="10min"))  # 17, once each, none lost
    assert cursor.backlog == [] and cursor.last_bucket == due


def test_a_new_bucket_is_never_behind_the_backlog() -> None:
    """The next bucket that closes is requested on the next tick, before what is left of a long
    backlog (36 buckets a range with the default policy)."""
    policy = ScoringPolicy(grace=pd.Timedelta(minutes=5))
    assert policy.max_new_per_tick == 36
    cursor = ScoringCursor(last_bucket=T0)
    now = T0 + pd.Timedelta(hours=20, minutes=15)
    first = plan_scoring(cursor, now, policy, EARLIEST)
    assert [r.reason for r in first.requests] == ["new", "catch-up"] and len(first.requests[1].buckets) == 36
    later = now + pd.Timedelta(minutes=10)
    second = plan_scoring(first.cursor, later, policy, EARLIEST, state=RunState(catchup_in_flight=True))
    assert [(r.reason, r.bucket_start) for r in second.requests] == [("new", latest_due_bucket(later, policy.grace))]
    third = plan_scoring(second.cursor, later, policy, EARLIEST)
    assert [r.reason for r in third.requests] == ["catch-up"]
    assert third.requests[0].bucket_start == first.requests[1].last + BUCKET  # the backlog resumes where it was


def test_downtime_longer_than_max_catchup_records_the_skipped_range() -> None:
    cursor = ScoringCursor(last_bucket=T0)
    now = T0 + pd.Timedelta(days=3)
    plan = plan_scoring(cursor, now, POLICY, EARLIEST)
    assert len(plan.skipped) == 1
    start, end = plan.skipped[0]
    assert start == T0 + pd.Timedelta(minutes=10)
    assert end == latest_due_bucket(now, POLICY.grace) - POLICY.max_catchup + pd.Timedelta(minutes=10)
    catch_up = [r for r in plan.requests if r.reason == "catch-up"]
    assert catch_up[0].bucket_start == end


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
    assert rescores[0].priority == PRIORITY["late-data"]
    # The same data reported again does not trigger a second run ...
    again = plan_scoring(plan.cursor, now + pd.Timedelta(minutes=1), POLICY, EARLIEST, changed)
    assert [r for r in again.requests if r.reason == "late-data"] == []
    # ... but more late data does, with a different run key.
    more = changed.assign(n_readings=[41], last_received_at=[T0 + pd.Timedelta(minutes=30)])
    third = plan_scoring(again.cursor, now + pd.Timedelta(minutes=11), POLICY, EARLIEST, more)
    late = [r for r in third.requests if r.reason == "late-data"]
    assert len(late) == 1 and late[0].run_key != rescores[0].run_key


def test_data_a_queued_run_will_read_is_not_rescored() -> None:
    """The issue's double scoring: a bucket's run was requested before a delivery and executes
    after it. While it is queued the delivery is only noted; once the run finished, its recorded
    read covers the delivery and nothing is re-scored. A delivery after its read is re-scored once."""
    bucket = T0
    cursor = ScoringCursor(last_bucket=T0, last_late_check=T0 + pd.Timedelta(minutes=15))
    delivered = T0 + pd.Timedelta(minutes=17)
    changed = pd.DataFrame({"bucket_start": [bucket], "n_readings": [184], "last_received_at": [delivered]})
    now = T0 + pd.Timedelta(minutes=18)
    queued = plan_scoring(cursor, now, POLICY, EARLIEST, changed, RunState(in_flight=frozenset({bucket})))
    assert queued.requests == [] and bucket.isoformat() in queued.cursor.pending
    # the run has finished and read all 184 readings: nothing to do, and the bucket is settled
    read = RunState(reads={bucket: BucketRead(184, delivered)})
    done = plan_scoring(queued.cursor, now + pd.Timedelta(minutes=1), POLICY, EARLIEST, None, read)
    assert done.requests == [] and done.cursor.pending == {}
    # the run had read before the delivery (150 readings): one re-score, for that data
    early = RunState(reads={bucket: BucketRead(150, T0 + pd.Timedelta(minutes=12))})
    redo = plan_scoring(queued.cursor, now + pd.Timedelta(minutes=1), POLICY, EARLIEST, None, early)
    assert [(r.reason, r.bucket_start) for r in redo.requests] == [("late-data", bucket)]
    assert plan_scoring(redo.cursor, now + pd.Timedelta(minutes=2), POLICY, EARLIEST, None,
                        RunState(in_flight=frozenset({bucket}))).requests == []


def test_late_data_for_a_bucket_still_in_the_backlog_waits_for_its_catch_up_run() -> None:
    cursor = ScoringCursor(last_bucket=T0)
    now = T0 + pd.Timedelta(hours=8, minutes=15)
    plan = plan_scoring(cursor, now, POLICY, EARLIEST)
    in_backlog = plan.cursor.backlog[0][0] + BUCKET
    changed = pd.DataFrame({"bucket_start": [in_backlog], "n_readings": [5], "last_received_at": [now]})
    nxt = plan_scoring(plan.cursor, now + pd.Timedelta(minutes=1), POLICY, EARLIEST, changed,
                       RunState(catchup_in_flight=True))
    assert nxt.requests == []


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
    cursor = ScoringCursor(last_bucket=T0, last_late_check=T0, backlog=[(T0 - 5 * BUCKET, T0 - BUCKET)],
                           pending={T0.isoformat(): (3, T0.isoformat())}, requested={T0.isoformat(): "3@x"})
    assert ScoringCursor.from_json(cursor.to_json()) == cursor


def test_adjacent_late_buckets_are_rescored_in_one_ranged_run() -> None:
    """An evening's late readings delivered at once: adjacent buckets in one run, a lone one apart."""
    cursor = ScoringCursor(last_bucket=T0, last_late_check=T0 + pd.Timedelta(minutes=15))
    evening = list(pd.date_range(T0 - 6 * BUCKET, T0 - 3 * BUCKET, freq="10min")) + [T0 - 10 * BUCKET]
    at = T0 + pd.Timedelta(minutes=20)
    changed = pd.DataFrame({"bucket_start": evening, "n_readings": [9] * len(evening), "last_received_at": [at] * len(evening)})
    reads = {b: BucketRead(5, T0) for b in evening}  # each was scored before the delivery
    plan = plan_scoring(cursor, at + pd.Timedelta(minutes=1), POLICY, EARLIEST, changed, RunState(reads=reads))
    late = [(r.bucket_start, r.last) for r in plan.requests if r.reason == "late-data"]
    assert late == [(T0 - 10 * BUCKET, T0 - 10 * BUCKET), (T0 - 6 * BUCKET, T0 - 3 * BUCKET)]
    # once they ran and read the delivery, nothing more
    done = RunState(reads={b: BucketRead(9, at) for b in evening})
    assert plan_scoring(plan.cursor, at + pd.Timedelta(minutes=3), POLICY, EARLIEST, changed, done).requests == []
