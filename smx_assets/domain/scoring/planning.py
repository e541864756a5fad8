"""Which ten-minute buckets to score now: new buckets, late-data re-scores, bounded catch-up.

Pure logic (no Dagster), so the scoring sensor is a thin shell around ``plan_scoring`` and the
rules can be tested exhaustively:

* A bucket ``[t, t+10 min)`` is due once ``now >= t + 10 min + grace``: the grace period lets
  most late readings arrive before the first score.
* Freshness first: the newest due bucket is requested as soon as it is due, with the highest run
  priority (``PRIORITY``). Buckets left behind (downtime, the demo's unscored morning) go to a
  backlog scored oldest first in *ranged* catch-up runs (one run for up to
  ``max_new_per_tick`` buckets, like a backfill), one catch-up run in flight at a time and at
  the lowest priority, so the backlog never delays a new bucket by more than one tick. Buckets
  older than ``max_catchup`` are not scored by the sensor (a retro-scoring backfill does that in
  one vectorised run); they are reported as skipped so the gap is visible, never silent.
* Late data exactly once: a bucket of the last ``rescore_horizon`` that received readings is
  re-scored only when no finished run has read them (each run records what it read, see
  ``reads.py``) and no run of it is queued or running (that run will read them). The run key is
  derived from the bucket's data (reading count and last arrival), so the same data never
  triggers two runs, and new data always triggers one. Adjacent late buckets are re-scored in one
  ranged run.
* With ``SMX_SCORING_SHARDS`` = N > 1 every planned bucket becomes N requests, one per shard
  (:func:`shard_requests`): the run key gets ``/shard-3-of-4``, so new buckets, late-data
  re-scores and catch-up all work per shard with the keys still derived from the bucket's data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pandas as pd

from smx_assets.domain.scoring.reads import BucketRead
from smx_assets.domain.scoring.shards import Shard
from smx_assets.domain.time_grid import BUCKET, BUCKET_FREQ

# Run priorities (Dagster's ``dagster/priority`` tag: higher leaves the run queue first).
PRIORITY = {"new": 5, "late-data": 3, "catch-up": 0}


@dataclass(frozen=True)
class ScoringPolicy:
    grace: pd.Timedelta = pd.Timedelta(minutes=5)
    max_new_per_tick: int = 36  # buckets per catch-up run
    max_catchup: pd.Timedelta = pd.Timedelta(hours=24)
    rescore_horizon: pd.Timedelta = pd.Timedelta(hours=24)
    max_rescores_per_tick: int = 12


def _ts(v: str | None) -> pd.Timestamp | None:
    return pd.Timestamp(v) if v else None


def _iso(v: pd.Timestamp | None) -> str | None:
    return v.isoformat() if v is not None else None


@dataclass
class ScoringCursor:
    """What the sensor remembers between ticks (serialised into the Dagster sensor cursor)."""

    last_bucket: pd.Timestamp | None = None  # newest bucket already requested
    last_late_check: pd.Timestamp | None = None  # arrivals after this were looked at
    # [first, last] bucket starts left behind and not requested yet, oldest first
    backlog: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)
    # bucket iso -> (n_readings, last_received_at iso): data seen but not yet known to be read
    pending: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    # bucket iso -> fingerprint of the last late-data re-score requested for it
    requested: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "last_bucket": _iso(self.last_bucket),
                "last_late_check": _iso(self.last_late_check),
                "backlog": [[a.isoformat(), b.isoformat()] for a, b in self.backlog],
                "pending": {k: [n, last] for k, (n, last) in self.pending.items()},
                "requested": self.requested,
            }
        )

    @classmethod
    def from_json(cls, raw: str | None) -> ScoringCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            last_bucket=_ts(data.get("last_bucket")),
            last_late_check=_ts(data.get("last_late_check")),
            backlog=[(pd.Timestamp(a), pd.Timestamp(b)) for a, b in data.get("backlog") or []],
            pending={k: (int(v[0]), v[1]) for k, v in (data.get("pending") or {}).items()},
            requested=dict(data.get("requested") or {}),
        )


@dataclass(frozen=True)
class BucketRequest:
    bucket_start: pd.Timestamp
    reason: str  # "new" | "late-data" | "catch-up"
    run_key: str
    shard: int | None = None  # None: the whole fleet (SMX_SCORING_SHARDS=1)
    shards: int = 1
    bucket_last: pd.Timestamp | None = None  # a catch-up range's last bucket (None: one bucket)

    @property
    def last(self) -> pd.Timestamp:
        return self.bucket_last if self.bucket_last is not None else self.bucket_start

    @property
    def buckets(self) -> list[pd.Timestamp]:
        return list(pd.date_range(self.bucket_start, self.last, freq=BUCKET_FREQ))

    @property
    def priority(self) -> int:
        return PRIORITY[self.reason]


def shard_requests(requests: list[BucketRequest], shards: int) -> list[BucketRequest]:
    """Each request once per shard (``shards`` > 1), bucket by bucket, shards in order; the
    run key of shard ``k`` is ``<bucket's run key>/shard-k-of-N``. ``shards`` = 1: unchanged."""
    if shards <= 1:
        return list(requests)
    return [BucketRequest(r.bucket_start, r.reason, f"{r.run_key}/{Shard(k, shards).label}", k, shards, r.bucket_last)
            for r in requests for k in range(shards)]


@dataclass(frozen=True)
class RunState:
    """What the Dagster instance knows, as the planner needs it."""

    in_flight: frozenset[pd.Timestamp] = frozenset()  # buckets of queued or running scoring runs
    catchup_in_flight: bool = False  # a catch-up run is queued or running
    # latest finished read per materialized bucket (a materialization from before reads were
    # recorded: BucketRead(-1, None), which covers nothing)
    reads: dict[pd.Timestamp, BucketRead] = field(default_factory=dict)
    # False: the instance was not asked (a test context without one); then a bucket without a
    # materialization is taken as scored, and its new readings as late data
    known: bool = True


@dataclass
class ScoringPlan:
    requests: list[BucketRequest]
    skipped: list[tuple[pd.Timestamp, pd.Timestamp]]  # [start, end) ranges the sensor will not score
    cursor: ScoringCursor


def latest_due_bucket(now: pd.Timestamp, grace: pd.Timedelta) -> pd.Timestamp:
    """The newest bucket start whose window closed at least ``grace`` ago."""
    return (now - grace - BUCKET).floor(BUCKET_FREQ)


def fingerprint(n_readings: int, last_received_at: pd.Timestamp | str | None) -> str:
    last = pd.Timestamp(last_received_at).isoformat() if last_received_at is not None else "none"
    return f"{int(n_readings)}@{last}"


def late_candidates(cursor: ScoringCursor, changed_buckets: pd.DataFrame | None) -> set[pd.Timestamp]:
    """Buckets whose reads the planner will ask about: changed now, or still pending."""
    out = {pd.Timestamp(k) for k in cursor.pending}
    if changed_buckets is not None and not changed_buckets.empty:
        out |= {pd.Timestamp(b) for b in changed_buckets["bucket_start"]}
    return out


def _clip_backlog(backlog: list[tuple[pd.Timestamp, pd.Timestamp]], oldest: pd.Timestamp,
                  ) -> tuple[list[tuple[pd.Timestamp, pd.Timestamp]], list[tuple[pd.Timestamp, pd.Timestamp]]]:
    kept, skipped = [], []
    for first, last in sorted(backlog):
        if first < oldest:
            skipped.append((first, min(last + BUCKET, oldest)))
            first = oldest
        if first <= last:
            kept.append((first, last))
    return kept, skipped


def _merge(ranges: list[tuple[pd.Timestamp, pd.Timestamp]]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Overlapping or adjacent [first, last] ranges as one, oldest first."""
    out: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + BUCKET:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def _in_backlog(b: pd.Timestamp, backlog: list[tuple[pd.Timestamp, pd.Timestamp]]) -> bool:
    return any(first <= b <= last for first, last in backlog)


def _late_requests(late: list[tuple[pd.Timestamp, str]], max_range: int) -> list[BucketRequest]:
    """Late-data re-scores, contiguous buckets as one ranged run (a farm delivering an evening's
    late readings at once changes dozens of adjacent buckets: one run, one model load). The run
    key names the range and a digest of its buckets' fingerprints."""
    out: list[BucketRequest] = []
    groups: list[list[tuple[pd.Timestamp, str]]] = []
    for b, fp in sorted(late):
        if groups and b == groups[-1][-1][0] + BUCKET and len(groups[-1]) < max_range:
            groups[-1].append((b, fp))
        else:
            groups.append([(b, fp)])
    for g in groups:
        first, fp = g[0]
        if len(g) == 1:
            out.append(BucketRequest(first, "late-data", f"scores:{first.isoformat()}:{fp}"))
            continue
        last = g[-1][0]
        digest = hashlib.sha1("|".join(f for _, f in g).encode()).hexdigest()[:12]
        out.append(BucketRequest(first, "late-data", f"scores:{first.isoformat()}..{last.isoformat()}:late:{digest}",
                                 bucket_last=last))
    return out


def plan_scoring(
    cursor: ScoringCursor,
    now: pd.Timestamp,
    policy: ScoringPolicy,
    earliest_bucket: pd.Timestamp,
    changed_buckets: pd.DataFrame | None = None,
    state: RunState | None = None,
) -> ScoringPlan:
    """Decide this tick's runs: the newest due bucket first, then one catch-up range, then
    late-data re-scores.

    ``changed_buckets``: the store's ``buckets_received_since(cursor.last_late_check, ...)``
    answer (``bucket_start``, ``n_readings``, ``last_received_at``); ``None`` when not checked.
    ``state``: runs in flight and what finished runs read (``None``: nothing known, as with
    ``RunState(known=False)``).

    Readings of a bucket that was never scored (the live farm delivering the day the demo left
    unscored) are not late data: the bucket joins the backlog and is scored in a ranged run.
    """
    state = state if state is not None else RunState(known=False)
    now = pd.Timestamp(now)
    due = latest_due_bucket(now, policy.grace)
    requests: list[BucketRequest] = []
    backlog = list(cursor.backlog)
    new_last = cursor.last_bucket
    oldest_allowed = max(due - policy.max_catchup + BUCKET, earliest_bucket)

    # 1. The newest due bucket, first and alone (first tick ever: no history replay).
    next_bucket = due if cursor.last_bucket is None else cursor.last_bucket + BUCKET
    if next_bucket <= due:
        requests.append(BucketRequest(due, "new", f"scores:{due.isoformat()}:new"))
        if next_bucket < due:
            backlog.append((next_bucket, due - BUCKET))
        new_last = due

    backlog, skipped = _clip_backlog(backlog, oldest_allowed)
    requested_now = {r.bucket_start for r in requests}
    # 2. Late data: re-score only what no finished run read and no queued run will read.
    seen: dict[pd.Timestamp, tuple[int, str | None]] = {pd.Timestamp(k): v for k, v in cursor.pending.items()}
    if changed_buckets is not None and not changed_buckets.empty:
        for row in changed_buckets.itertuples(index=False):
            last_at = pd.Timestamp(row.last_received_at) if pd.notna(row.last_received_at) else None
            seen[pd.Timestamp(row.bucket_start)] = (int(row.n_readings), _iso(last_at))
    horizon_start = due - policy.rescore_horizon
    pending: dict[str, tuple[int, str | None]] = {}
    requested = dict(cursor.requested)
    rescores = 0
    never_scored: list[pd.Timestamp] = []
    late: list[tuple[pd.Timestamp, str]] = []
    for b in sorted(seen):
        n, last_at = seen[b]
        if b < horizon_start or new_last is None or b > new_last or _in_backlog(b, backlog):
            continue  # outside the horizon, or its first scoring is still to be requested
        if b in requested_now or b in state.in_flight:
            pending[b.isoformat()] = (n, last_at)  # that run reads it; checked again once it finished
            continue
        read = state.reads.get(b)
        if read is None and state.known and b.isoformat() not in requested:
            never_scored.append(b)  # readings of a bucket never scored (a farm catching up): backlog
            continue
        if read is not None and read.covers(n, _ts(last_at)):
            continue  # a finished run already read this data
        fp = fingerprint(n, last_at)
        if requested.get(b.isoformat()) == fp:
            continue  # re-scored for this data already and that run is over (a failure is retried by Dagster)
        if rescores >= policy.max_rescores_per_tick:
            pending[b.isoformat()] = (n, last_at)  # next tick
            continue
        late.append((b, fp))
        requested[b.isoformat()] = fp
        pending[b.isoformat()] = (n, last_at)
        rescores += 1

    requests += _late_requests(late, policy.max_new_per_tick)

    # 3. The backlog: one ranged catch-up run at a time, oldest first.
    backlog, _ = _clip_backlog(_merge(backlog + [(b, b) for b in never_scored]), oldest_allowed)
    if backlog and not state.catchup_in_flight:
        first, last = backlog[0]
        end = min(last, first + (policy.max_new_per_tick - 1) * BUCKET)
        key = f"scores:{first.isoformat()}..{end.isoformat()}:catch-up@{now.isoformat()}"
        requests.append(BucketRequest(first, "catch-up", key, bucket_last=end))
        backlog[0] = (end + BUCKET, last)
        backlog = [(a, b) for a, b in backlog if a <= b]

    requested = {k: v for k, v in requested.items() if pd.Timestamp(k) >= horizon_start}
    return ScoringPlan(
        requests=requests,
        skipped=skipped,
        cursor=ScoringCursor(last_bucket=new_last, last_late_check=now, backlog=backlog,
                             pending=pending, requested=requested),
    )
