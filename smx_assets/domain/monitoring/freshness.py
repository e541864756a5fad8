"""The freshness SLO of ``scores``: how old the newest scored bucket is, in three states.

A bucket is due five minutes after it closes and is scored within a minute or two, so in
normal operation the newest scored bucket closed 6-16 minutes ago. Past 20 minutes at least
one bucket was missed (WARN: someone should look); past an hour scoring has stopped (FAIL).
Measured from the bucket's close, the moment its readings are complete.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from smx_assets.domain.time_grid import BUCKET

WARN_AFTER = pd.Timedelta(minutes=20)
FAIL_AFTER = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Freshness:
    state: str  # "fresh" | "warn" | "fail"
    age_minutes: float | None  # since the newest scored bucket closed; None: nothing scored
    newest_bucket: pd.Timestamp | None
    description: str


def scores_freshness(newest_bucket: pd.Timestamp | None, now: pd.Timestamp,
                     warn_after: pd.Timedelta = WARN_AFTER, fail_after: pd.Timedelta = FAIL_AFTER) -> Freshness:
    """The state of ``scores`` at ``now`` given the start of the newest scored bucket."""
    if newest_bucket is None:
        return Freshness("fail", None, None, "no bucket has been scored yet")
    newest = pd.Timestamp(newest_bucket)
    age = pd.Timestamp(now) - (newest + BUCKET)
    minutes = round(age / pd.Timedelta(minutes=1), 1)
    closed = f"newest scored bucket {newest:%Y-%m-%d %H:%M} UTC closed {minutes:g} min ago"
    if age > fail_after:
        limit = fail_after / pd.Timedelta(minutes=1)
        return Freshness("fail", minutes, newest, f"{closed}: scoring has stopped (over {limit:g} min)")
    if age > warn_after:
        limit = warn_after / pd.Timedelta(minutes=1)
        return Freshness("warn", minutes, newest, f"{closed}: at least one bucket is late (over {limit:g} min)")
    return Freshness("fresh", minutes, newest, closed)
