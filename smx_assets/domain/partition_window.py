"""Rolling partition windows: how far back the ten-minute and daily partition sets reach.

Why a window and not a fixed start date: the ten-minute set gains 52,560 keys a year, and
Dagster's asset pages, partition status queries and backfill daemon slow down past about
100,000 keys per asset. A fixed start grows past that within two years unless someone edits a
date; a window of ``N`` days keeps the set at ``N * 144`` keys (plus the buckets of the days
since the code location last loaded) for as long as the deployment runs.

History older than the ten-minute window is not lost: retro-scoring
(:mod:`smx_assets.domain.scoring.retro`, ``smx score --from --to``) scores any day range in
one run, computing the baselines it needs first, with the same functions as the ten-minute
runs. The daily set has its own, longer window (its keys are 144 times fewer).

An optional floor (the deployment's first day of data) keeps either set from starting before
any data exists, so the UI does not list days that can never be filled.

Pure date arithmetic, no Dagster and no environment: the settings pass the values in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

BUCKETS_PER_DAY = 144
# Dagster's guidance is at most ~100,000 partitions per asset; this project keeps the
# ten-minute set under 30,000 (about 200 days) so asset pages stay fast.
MAX_TEN_MINUTE_KEYS = 30_000


@dataclass(frozen=True)
class PartitionWindows:
    """The first day of each partition set, as decided at code-location load."""

    ten_minute_start: dt.date
    daily_start: dt.date
    scores_window_days: int
    daily_window_days: int

    def ten_minute_keys(self, now: dt.datetime) -> int:
        """Ten-minute keys from the start up to the last closed bucket at ``now`` (UTC)."""
        start = dt.datetime.combine(self.ten_minute_start, dt.time(), dt.timezone.utc)
        return max(0, int((now - start).total_seconds() // 600))

    def daily_keys(self, now: dt.datetime) -> int:
        """Daily keys from the start up to the last complete day at ``now`` (UTC)."""
        return max(0, (now.astimezone(dt.timezone.utc).date() - self.daily_start).days)

    def covers_bucket(self, bucket: dt.datetime) -> bool:
        """Whether a bucket start lies inside the ten-minute set (has a partition key)."""
        return bucket.astimezone(dt.timezone.utc).date() >= self.ten_minute_start


def rolling_start(today: dt.date, window_days: int, floor: dt.date | None = None) -> dt.date:
    """``window_days`` full days before ``today`` (so today's buckets are inside), never before ``floor``."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    start = today - dt.timedelta(days=window_days)
    return max(start, floor) if floor is not None else start


def partition_windows(now: dt.datetime, scores_window_days: int, daily_window_days: int,
                      floor: dt.date | None = None) -> PartitionWindows:
    """The partition starts for a code location loaded at ``now``.

    The daily set starts no later than the ten-minute set: the ten-minute scoring path reads
    the daily baselines of the day it scores.
    """
    today = now.astimezone(dt.timezone.utc).date()
    ten = rolling_start(today, scores_window_days, floor)
    daily = min(rolling_start(today, daily_window_days, floor), ten)
    return PartitionWindows(ten, daily, scores_window_days, daily_window_days)


__all__ = ["BUCKETS_PER_DAY", "MAX_TEN_MINUTE_KEYS", "PartitionWindows", "partition_windows", "rolling_start"]
