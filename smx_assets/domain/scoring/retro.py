"""Retro-scoring: score any past day range in one run, whatever the partition windows hold.

The ten-minute partitions of ``scores`` cover a rolling window (see
``smx_assets.domain.partition_window``); data older than that (a history import from 2019, a
long simulation, a new champion's "what would it have alerted last year") is scored here:

1. the ``sensor_baselines`` of every day in the range that has none stored are computed first,
   reading each history day from the sensor store once, with the daily asset's own function
   (``baselines_from_store``) and stored in the same files, so a later daily run or ten-minute
   run sees the same numbers;
2. the range is scored one UTC day at a time through :func:`score_window`, the very function
   the ten-minute runs call, so feature vectors, scores, predictions and alerts are the same
   as scoring the buckets one by one (a test holds the two against each other). One day per
   step keeps memory bounded by a day of the herd, not by the length of the range; alerts
   across day boundaries are decided from the predictions already written, as they are
   between ten-minute runs.

Buckets that have not closed yet are never scored: a range reaching into the future is cut at
the last closed bucket, and a range entirely in the future is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.engine import Engine

from smx_assets.domain.features.baselines import baselines_from_store
from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.features.storage import BASELINES, FeatureFiles
from smx_assets.domain.scoring.engine import DEFAULT_CHUNK_CELLS, ModelSet, ScoringLineage, ScoringResult, score_window
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import BUCKET, DAY, PARTITION_KEY_FORMAT, range_label, utc

log = logging.getLogger(__name__)
MAX_RANGE_DAYS = 3660  # ten years in one call: a typo guard (2019 -> 2091), not a capacity limit


class RetroRangeError(ValueError):
    """The requested range cannot be scored (the message is one line and says why)."""


@dataclass
class RetroDay:
    day: dt.date
    n_buckets: int
    n_animals: int
    n_predictions: int
    alerts_new: dict[str, int]
    seconds: float


@dataclass
class RetroResult:
    """What a retro-scoring run did, day by day."""

    first_day: dt.date
    last_day: dt.date
    scored_until: pd.Timestamp  # end of the last bucket scored (exclusive)
    baselines_computed: list[dt.date]
    days: list[RetroDay] = field(default_factory=list)
    fallback_use_cases: list[str] = field(default_factory=list)
    models: dict[str, dict[str, object]] = field(default_factory=dict)
    alerts_candidates: dict[str, int] = field(default_factory=dict)
    baseline_seconds: float = 0.0

    @property
    def n_predictions(self) -> int:
        return sum(d.n_predictions for d in self.days)

    @property
    def n_buckets(self) -> int:
        return sum(d.n_buckets for d in self.days)

    @property
    def n_animals(self) -> int:
        return max((d.n_animals for d in self.days), default=0)

    @property
    def alerts_new(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.days:
            for k, v in d.alerts_new.items():
                out[k] = out.get(k, 0) + v
        return out


def parse_day(text: str | dt.date) -> dt.date:
    """A ``YYYY-MM-DD`` day (one-line :class:`RetroRangeError` otherwise)."""
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise RetroRangeError(f"{text!r} is not a date: expected YYYY-MM-DD") from None


def plan_range(first_day: str | dt.date, last_day: str | dt.date,
               now: pd.Timestamp) -> tuple[list[pd.Timestamp], pd.Timestamp]:
    """The UTC days to score (``first_day..last_day`` inclusive) and the end of the last
    closed bucket they may reach (``now`` floored to the bucket)."""
    first, last = parse_day(first_day), parse_day(last_day)
    if last < first:
        raise RetroRangeError(f"--to {last} is before --from {first}")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise RetroRangeError(f"{first}..{last} is {(last - first).days + 1} days: at most {MAX_RANGE_DAYS} "
                              "days in one run (split the range)")
    closed = utc(now).floor(BUCKET)
    start = pd.Timestamp(first, tz="UTC")
    if start >= closed:
        raise RetroRangeError(f"{first} has no closed bucket yet (now {utc(now):%Y-%m-%d %H:%M} UTC): "
                              "only past buckets can be scored")
    days = list(pd.date_range(start, pd.Timestamp(last, tz="UTC"), freq="D"))
    return [d for d in days if d < closed], closed


def ensure_day_baselines(store: SensorStore, files: FeatureFiles, days: list[pd.Timestamp],
                         recompute: bool = False) -> list[dt.date]:
    """Compute and store the baselines of ``days`` that have none (all of them if ``recompute``)."""
    todo = list(days) if recompute else [d for d in days if not files.exists(BASELINES, d)]
    for day, frame in baselines_from_store(store, todo).items():
        files.write(frame, BASELINES, day)
    return [d.date() for d in todo]


def retro_score(
    *,
    engine: Engine,
    store: SensorStore,
    files: FeatureFiles,
    records: FarmRecords,
    model_sets: Mapping[str, ModelSet],
    first_day: str | dt.date,
    last_day: str | dt.date,
    code_version: str,
    run_id: str | None = None,
    write_alerts: bool = True,
    recompute_baselines: bool = False,
    now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
    progress: Callable[[str], None] | None = None,
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
) -> RetroResult:
    """Score every closed bucket of ``first_day..last_day`` (UTC, inclusive); see the module doc."""
    say = progress or log.info
    days, closed = plan_range(first_day, last_day, now())
    t0 = time.perf_counter()
    computed = ensure_day_baselines(store, files, days, recompute_baselines)
    result = RetroResult(first_day=days[0].date(), last_day=days[-1].date(),
                         scored_until=min(days[-1] + DAY, closed), baselines_computed=computed,
                         baseline_seconds=round(time.perf_counter() - t0, 3))
    say(f"baselines: {len(computed)} day(s) computed, {len(days) - len(computed)} already stored "
        f"({result.baseline_seconds:.1f} s)")
    last: ScoringResult | None = None
    for i, day in enumerate(days, 1):
        t_day = time.perf_counter()
        end = min(day + DAY, closed)
        label = range_label(day.strftime(PARTITION_KEY_FORMAT), (end - BUCKET).strftime(PARTITION_KEY_FORMAT))
        last = score_window(engine=engine, store=store, files=files, records=records, model_sets=model_sets,
                            start=day, end=end, lineage=ScoringLineage(code_version, label, run_id),
                            write_alerts=write_alerts, now=now, chunk_cells=chunk_cells)
        for k, v in last.alerts_candidates.items():
            result.alerts_candidates[k] = result.alerts_candidates.get(k, 0) + v
        entry = RetroDay(day.date(), last.n_buckets, last.n_animals, last.n_predictions, last.alerts_new,
                         round(time.perf_counter() - t_day, 3))
        result.days.append(entry)
        say(f"[{i}/{len(days)}] {day.date()}: {entry.n_animals} animals x {entry.n_buckets} buckets, "
            f"{entry.n_predictions} predictions, {sum(entry.alerts_new.values())} new alerts "
            f"({entry.seconds:.1f} s)")
    if last is not None:
        result.fallback_use_cases, result.models = last.fallback_use_cases, last.models
    return result


__all__ = ["RetroDay", "RetroRangeError", "RetroResult", "ensure_day_baselines", "parse_day", "plan_range",
           "retro_score"]
