"""When monitoring launches retraining: the decision, kept apart from the Dagster sensor.

* Only *failed* checks of severity ERROR trigger (a warning is for people); each check
  evaluation is acted on once (its storage id is remembered in the cursor).
* At most one retraining per ``min_interval``: a drift that persists fails the check every
  day, and retraining daily on the same drifted data gains nothing.
* Retraining first backfills the ``training_features`` days of the training window that were
  never materialised (one single-run backfill), and launches training only once that run has
  succeeded; with nothing missing it launches training at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pandas as pd


@dataclass(frozen=True)
class RetrainingPolicy:
    min_interval: pd.Timedelta = pd.Timedelta(days=1)
    training_days: int = 30  # the window whose training_features must exist before training


@dataclass(frozen=True)
class CheckEvaluation:
    """A completed check evaluation from the instance, as plain values."""

    check: str  # "<asset>:<check name>"
    storage_id: int
    passed: bool
    severity: str  # ERROR | WARN
    run_id: str = ""


@dataclass
class RetrainingCursor:
    last_seen: dict[str, int] = field(default_factory=dict)
    last_trigger_at: str | None = None
    pending_backfill_run_id: str | None = None
    pending_reason: str | None = None
    triggers: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> RetrainingCursor:
        return cls(**json.loads(text)) if text else cls()


@dataclass
class RetrainingPlan:
    backfill_days: list[pd.Timestamp] = field(default_factory=list)
    train: bool = False
    reason: str = ""
    trigger_id: str = ""
    notes: list[str] = field(default_factory=list)
    cursor: RetrainingCursor = field(default_factory=RetrainingCursor)


def missing_days(materialized: set[str], today: pd.Timestamp, policy: RetrainingPolicy) -> list[pd.Timestamp]:
    """Days of the training window (``training_days`` up to yesterday) never materialised."""
    today = pd.Timestamp(today).normalize()
    days = pd.date_range(today - pd.Timedelta(days=policy.training_days), today, freq="D", inclusive="left")
    return [d for d in days if d.strftime("%Y-%m-%d") not in materialized]


def plan_retraining(cursor: RetrainingCursor, now: pd.Timestamp, evaluations: list[CheckEvaluation],
                    missing: list[pd.Timestamp], policy: RetrainingPolicy,
                    pending_status: str | None = None) -> RetrainingPlan:
    """Decide this tick's action. ``pending_status``: status of the pending backfill run, if any."""
    cur = RetrainingCursor(**asdict(cursor))
    plan = RetrainingPlan(cursor=cur)
    if cur.pending_backfill_run_id is not None:
        if pending_status == "SUCCESS":
            plan.train, plan.reason = True, f"{cur.pending_reason} (after backfill run {cur.pending_backfill_run_id})"
            plan.trigger_id = f"{cur.last_trigger_at}-train"
            cur.pending_backfill_run_id, cur.pending_reason = None, None
        elif pending_status in ("FAILURE", "CANCELED", None):
            plan.notes.append(f"backfill run {cur.pending_backfill_run_id} ended {pending_status}: retraining dropped")
            cur.pending_backfill_run_id, cur.pending_reason = None, None
        else:
            plan.notes.append(f"waiting for backfill run {cur.pending_backfill_run_id} ({pending_status})")
    failed = []
    for ev in sorted(evaluations, key=lambda e: e.storage_id):
        if ev.storage_id <= cur.last_seen.get(ev.check, -1):
            continue
        cur.last_seen[ev.check] = ev.storage_id
        if not ev.passed and ev.severity == "ERROR":
            failed.append(ev)
    if not failed or plan.train or cur.pending_backfill_run_id is not None:
        if failed:
            plan.notes.append(f"{len(failed)} failed check(s) while a retraining is under way: not triggering again")
        return plan
    reason = "failed " + ", ".join(sorted({e.check for e in failed}))
    if cur.last_trigger_at is not None and now - pd.Timestamp(cur.last_trigger_at) < policy.min_interval:
        plan.notes.append(f"{reason}, but the last retraining was at {cur.last_trigger_at} "
                          f"(less than {policy.min_interval} ago): suppressed")
        return plan
    cur.last_trigger_at = pd.Timestamp(now).isoformat()
    cur.triggers += 1
    plan.reason = reason
    plan.trigger_id = cur.last_trigger_at
    if missing:
        plan.backfill_days = missing
        cur.pending_reason = reason
    else:
        plan.train = True
    return plan
