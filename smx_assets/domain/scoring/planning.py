"""Which ten-minute buckets to score now: new buckets, late-data re-scores, bounded catch-up.

Pure logic (no Dagster), so the scoring sensor is a thin shell around ``plan_scoring`` and the
rules can be tested exhaustively:

* A bucket ``[t, t+10 min)`` is due once ``now >= t + 10 min + grace``: the grace period lets
  most late readings arrive before the first score.
* After downtime the sensor catches up oldest first, at most ``max_new_per_tick`` buckets per
  tick, so the run queue never floods. Buckets older than ``max_catchup`` are not scored by the
  sensor (a retro-scoring backfill does that in one vectorised run); they are reported as
  skipped so the gap is visible, never silent.
* A bucket of the last ``rescore_horizon`` whose data changed after it was scored (late readings)
  is re-scored. The run key is derived from the bucket's data (reading count and last arrival),
  so the same data never triggers two runs, and new data always triggers one.
* With ``SMX_SCORING_SHARDS`` = N > 1 every planned bucket becomes N requests, one per shard
  (:func:`shard_requests`): the run key gets ``/shard-3-of-4``, so new buckets, late-data
  re-scores and catch-up all work per shard with the keys still derived from the bucket's data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from smx_assets.domain.scoring.shards import Shard
from smx_assets.domain.time_grid import BUCKET, BUCKET_FREQ


@dataclass(frozen=True)
class ScoringPolicy:
    grace: pd.Timedelta = pd.Timedelta(minutes=5)
    max_new_per_tick: int = 6
    max_catchup: pd.Timedelta = pd.Timedelta(hours=24)
    rescore_horizon: pd.Timedelta = pd.Timedelta(hours=24)
    max_rescores_per_tick: int = 12


@dataclass
class ScoringCursor:
    """What the sensor remembers between ticks (serialised into the Dagster sensor cursor)."""

    last_bucket: pd.Timestamp | None = None  # newest bucket already requested
    last_late_check: pd.Timestamp | None = None  # arrivals after this were looked at
    fingerprints: dict[str, str] = field(default_factory=dict)  # bucket iso -> data fingerprint

    def to_json(self) -> str:
        return json.dumps(
            {
                "last_bucket": self.last_bucket.isoformat() if self.last_bucket is not None else None,
                "last_late_check": self.last_late_check.isoformat() if self.last_late_check is not None else None,
                "fingerprints": self.fingerprints,
            }
        )

    @classmethod
    def from_json(cls, raw: str | None) -> ScoringCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            last_bucket=pd.Timestamp(data["last_bucket"]) if data.get("last_bucket") else None,
            last_late_check=pd.Timestamp(data["last_late_check"]) if data.get("last_late_check") else None,
            fingerprints=dict(data.get("fingerprints") or {}),
        )


@dataclass(frozen=True)
class BucketRequest:
    bucket_start: pd.Timestamp
    reason: str  # "new" | "late-data"
    run_key: str
    shard: int | None = None  # None: the whole fleet (SMX_SCORING_SHARDS=1)
    shards: int = 1


def shard_requests(requests: list[BucketRequest], shards: int) -> list[BucketRequest]:
    """Each request once per shard (``shards`` > 1), bucket by bucket, shards in order; the
    run key of shard ``k`` is ``<bucket's run key>/shard-k-of-N``. ``shards`` = 1: unchanged."""
    if shards <= 1:
        return list(requests)
    return [BucketRequest(r.bucket_start, r.reason, f"{r.run_key}/{Shard(k, shards).label}", k, shards)
            for r in requests for k in range(shards)]


@dataclass
class ScoringPlan:
    requests: list[BucketRequest]
    skipped: list[tuple[pd.Timestamp, pd.Timestamp]]  # [start, end) ranges the sensor will not score
    cursor: ScoringCursor


def latest_due_bucket(now: pd.Timestamp, grace: pd.Timedelta) -> pd.Timestamp:
    """The newest bucket start whose window closed at least ``grace`` ago."""
    return (now - grace - BUCKET).floor(BUCKET_FREQ)


def fingerprint(n_readings: int, last_received_at: pd.Timestamp | None) -> str:
    last = pd.Timestamp(last_received_at).isoformat() if last_received_at is not None else "none"
    return f"{int(n_readings)}@{last}"


def plan_scoring(
    cursor: ScoringCursor,
    now: pd.Timestamp,
    policy: ScoringPolicy,
    earliest_bucket: pd.Timestamp,
    changed_buckets: pd.DataFrame | None = None,
) -> ScoringPlan:
    """Decide this tick's runs.

    ``changed_buckets``: the store's ``buckets_received_since(cursor.last_late_check, ...)``
    answer (``bucket_start``, ``n_readings``, ``last_received_at``); ``None`` when not checked.
    """
    now = pd.Timestamp(now)
    due = latest_due_bucket(now, policy.grace)
    requests: list[BucketRequest] = []
    skipped: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    if cursor.last_bucket is None:
        # First tick ever: start at the newest due bucket instead of replaying history.
        next_bucket = due
    else:
        next_bucket = cursor.last_bucket + BUCKET
    oldest_allowed = max(due - policy.max_catchup + BUCKET, earliest_bucket)
    if next_bucket < oldest_allowed:
        skipped.append((next_bucket, oldest_allowed))
        next_bucket = oldest_allowed

    new_last = cursor.last_bucket
    bucket = next_bucket
    while bucket <= due and len(requests) < policy.max_new_per_tick:
        requests.append(BucketRequest(bucket, "new", f"scores:{bucket.isoformat()}:new"))
        new_last = bucket
        bucket += BUCKET

    fingerprints = dict(cursor.fingerprints)
    new_buckets = {r.bucket_start for r in requests}
    rescores = 0
    if changed_buckets is not None and not changed_buckets.empty and new_last is not None:
        horizon_start = due - policy.rescore_horizon
        changed = changed_buckets.sort_values("bucket_start")
        for row in changed.itertuples(index=False):
            b = pd.Timestamp(row.bucket_start)
            if b < horizon_start or b > new_last:
                continue  # outside the horizon, or not yet requested for the first time
            fp = fingerprint(row.n_readings, row.last_received_at)
            if b in new_buckets:
                fingerprints[b.isoformat()] = fp  # scored for the first time with this data
                continue
            if fingerprints.get(b.isoformat()) == fp:
                continue
            if rescores >= policy.max_rescores_per_tick:
                break  # the rest are picked up next tick: last_late_check is not advanced past them
            requests.append(BucketRequest(b, "late-data", f"scores:{b.isoformat()}:{fp}"))
            fingerprints[b.isoformat()] = fp
            rescores += 1

    # Forget fingerprints of buckets that can no longer be re-scored.
    horizon = due - policy.rescore_horizon
    fingerprints = {k: v for k, v in fingerprints.items() if pd.Timestamp(k) >= horizon}
    late_check = now if rescores < policy.max_rescores_per_tick else cursor.last_late_check
    return ScoringPlan(
        requests=requests,
        skipped=skipped,
        cursor=ScoringCursor(last_bucket=new_last, last_late_check=late_check, fingerprints=fingerprints),
    )
