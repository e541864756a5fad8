"""Many replays: a random sample of the scores of a range, yesterday's alerts, and a summary.

Used by ``smx replay --from --to`` and by the daily ``replay_audit`` in the monitoring job. A
score that cannot be replayed (its model version deleted, its readings no longer kept) is
*skipped with its reason*, never counted as identical.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.herd_db import to_db_ts
from smx_assets.domain.replay.known import ReplayError
from smx_assets.domain.replay.replay import Replayer, ReplayReport
from smx_assets.domain.replay.targets import Target, alert_target, score_targets
from smx_assets.domain.retention import cutoff_day
from smx_assets.domain.score_store.store import FULL_LINEAGE, ScoreStore


def readings_kept_from(now: pd.Timestamp, readings_days: int) -> pd.Timestamp:
    """The first reading time retention keeps (``SMX_RETENTION_READINGS_DAYS``, whole days)."""
    return pd.Timestamp(cutoff_day(now, readings_days), tz="UTC")


def sample_scores(scores: ScoreStore, start: pd.Timestamp, end: pd.Timestamp, n: int, *,
                  use_case: str | None = None, seed: int | None = None,
                  animal_pool: Sequence[int] | None = None) -> list[Target]:
    """``n`` stored scores of ``[start, end)`` drawn at random (champion and shadow).

    ``animal_pool`` (the herd's animal ids): ``n`` animals are drawn from it first and only their
    scores are read (the day files are sorted by animal, so the read skips the rest): a day of a
    100,000-animal fleet holds ~85 million scores, far too many to read for a sample of 20. Each
    drawn animal then gives a score at random; animals without a score in the range give none.
    """
    if n <= 0:
        return []
    rng = np.random.default_rng(seed)
    ids = None
    if animal_pool is not None and len(animal_pool):
        pool = np.unique(np.asarray(animal_pool, dtype="int64"))
        ids = np.sort(rng.choice(pool, size=min(int(n), len(pool)), replace=False)).tolist()
    frame = scores.read(start, end, use_case=use_case, animal_ids=ids, lineage=FULL_LINEAGE)
    if frame.empty:
        return []
    pick = np.sort(rng.choice(len(frame), size=min(int(n), len(frame)), replace=False))
    return score_targets(scores.engine, frame.iloc[pick].reset_index(drop=True))


def alert_ids_between(engine: sa.Engine, start: pd.Timestamp, end: pd.Timestamp,
                      use_case: str | None = None) -> list[int]:
    """Ids of the alerts whose bucket is in ``[start, end)``, oldest first."""
    sql = "SELECT id FROM alerts WHERE bucket_start >= :s AND bucket_start < :e"
    params: dict[str, Any] = {"s": to_db_ts(start), "e": to_db_ts(end)}
    if use_case:
        sql += " AND use_case = :u"
        params["u"] = use_case
    with engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(sa.text(sql + " ORDER BY bucket_start, id"), params)]


@dataclass
class ReplaySummary:
    """What a batch of replays found."""

    reports: list[ReplayReport] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    @property
    def identical(self) -> int:
        return sum(r.identical for r in self.reports)

    @property
    def different(self) -> list[ReplayReport]:
        return [r for r in self.reports if not r.identical]

    @property
    def skip_reasons(self) -> dict[str, int]:
        return dict(Counter(why.split(":")[0] for _what, why in self.skipped))

    def line(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in self.skip_reasons.items())
        return (f"replayed {len(self.reports)}, identical {self.identical}, different {len(self.different)}, "
                f"skipped {len(self.skipped)}{f' ({skipped})' if skipped else ''}")

    def first_difference(self) -> str | None:
        for r in self.reports:
            if not r.identical:
                return f"{r.target.label}: {r.first_difference}"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"replayed": len(self.reports), "identical": self.identical, "different": len(self.different),
                "skipped": len(self.skipped), "skip_reasons": self.skip_reasons,
                "first_difference": self.first_difference(),
                "differences": [r.as_dict() for r in self.different],
                "skipped_items": [{"what": w, "why": y} for w, y in self.skipped]}


def replay_all(replayer: Replayer, targets: list[Target | int]) -> ReplaySummary:
    """Replay each target (an alert id or a score); what cannot be replayed is skipped with its reason."""
    out = ReplaySummary()
    for t in targets:
        what = f"alert {t}" if isinstance(t, int) else t.label
        try:
            target = alert_target(replayer.engine, replayer.scores, t) if isinstance(t, int) else t
            out.reports.append(replayer.replay(target))
        except ReplayError as exc:
            out.skipped.append((what, str(exc)))
    return out


__all__ = ["ReplaySummary", "alert_ids_between", "readings_kept_from", "replay_all", "sample_scores"]
