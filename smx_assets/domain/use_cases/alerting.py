"""Scores to alerts under an :class:`AlertPolicy`: one alert per episode, per animal.

An *episode* is a maximal run of consecutive above-threshold buckets (``score >= threshold``,
buckets exactly ``policy.bucket`` apart; a missing or NaN bucket ends the run). A run is
*confirmed* on its ``min_consecutive``-th bucket; that bucket is the run's only alert candidate,
so a long episode never re-alerts. A candidate is dropped when it falls within ``refractory`` of
the animal's previous alert (from this call or from ``last_alert_at``), so a score flickering
around the threshold still gives one alert.

Incremental use (the 10-minute scoring run): pass the new buckets plus at least
``policy.lookback`` of earlier scores, ``emit_from`` = the first new bucket, and the animals'
last alert times. Runs that are already under way at the first row of the given history are
treated as continuations (their start is unknown, and with ``lookback`` of history they were
confirmed before ``emit_from``), so bucket-by-bucket runs raise the same alerts as one batch run
(the test suite checks this against a naive reference implementation).

The work is vectorised over all rows; only the (few) candidates are walked per animal for the
refractory rule, which is inherently sequential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.time_grid import utc, utc_series
from smx_assets.domain.use_cases.base import AlertPolicy

ALERT_COLUMNS = ["animal_id", "bucket_start", "score", "threshold", "episode_start"]


_utc = utc_series  # series: naive taken as UTC (as the herd DB stores it), aware converted
_utc_ts = utc  # scalar: naive taken as UTC, aware converted


def empty_alerts() -> pd.DataFrame:
    return pd.DataFrame({
        "animal_id": pd.Series(dtype="int64"),
        "bucket_start": pd.Series(dtype="datetime64[ns, UTC]"),
        "score": pd.Series(dtype="float64"),
        "threshold": pd.Series(dtype="float64"),
        "episode_start": pd.Series(dtype="datetime64[ns, UTC]"),
    })


def apply_alert_policy(
    scores: pd.DataFrame,
    policy: AlertPolicy,
    last_alert_at: Mapping[int, Any] | None = None,
    emit_from: Any | None = None,
) -> pd.DataFrame:
    """Alerts for ``scores`` (columns ``animal_id``, ``bucket_start``, ``score``).

    Args:
        scores: one row per animal and bucket; duplicate (animal, bucket) rows keep the last.
        policy: threshold, refractory period, confirmation length, bucket size.
        last_alert_at: each animal's most recent alert before this call (any earlier alerts
            are irrelevant: only the latest one can still be within the refractory period).
        emit_from: only buckets at or after this time may alert; earlier rows are history that
            tells an episode's start from its continuation. ``None`` means batch mode: every row
            is new and a run at the first row starts there.

    Returns:
        One row per alert: ``animal_id``, ``bucket_start`` (aware UTC), ``score``,
        ``threshold``, ``episode_start`` (first above bucket of the episode), sorted by time.
    """
    if scores.empty:
        return empty_alerts()
    missing = {"animal_id", "bucket_start", "score"} - set(scores.columns)
    if missing:
        raise KeyError(f"scores frame lacks columns {sorted(missing)}")

    df = pd.DataFrame({
        "animal_id": scores["animal_id"].astype("int64").to_numpy(),
        "bucket_start": _utc(scores["bucket_start"]).reset_index(drop=True),
        "score": pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype="float64"),
    })
    df = (df.drop_duplicates(["animal_id", "bucket_start"], keep="last")
            .sort_values(["animal_id", "bucket_start"], kind="stable")
            .reset_index(drop=True))

    animal = df["animal_id"].to_numpy()
    t = df["bucket_start"]
    tnp = t.dt.tz_convert(None).to_numpy()  # datetime64[ns], UTC wall time: fast numpy compares
    above = (df["score"] >= policy.threshold).to_numpy()  # NaN compares False: a gap
    same_animal = np.r_[False, animal[1:] == animal[:-1]]
    adjacent = np.r_[False, (t.diff().iloc[1:] == policy.bucket).to_numpy()] & same_animal
    prev_above = np.r_[False, above[:-1]]
    run_start = above & ~(prev_above & adjacent)
    run_id = np.cumsum(run_start)
    # Position inside the run (0-based) for above rows; rows below threshold get -1.
    pos = np.where(above, df.groupby(run_id).cumcount().to_numpy(), -1)
    candidate = above & (pos == policy.min_consecutive - 1)
    if not candidate.any():
        return empty_alerts()

    episode_start = tnp[run_start][np.maximum(run_id, 1) - 1]

    if emit_from is not None:
        cutoff = _utc_ts(emit_from)
        first_of_animal = ~same_animal
        # A run already under way at the oldest history bucket has an unknown start: it is an
        # episode earlier calls handled. A first row later than that is a real start, because
        # the bucket before it lay inside the required history and had no above score.
        at_history_start = (t <= cutoff - policy.lookback).to_numpy()
        continuation_runs = np.unique(run_id[first_of_animal & above & at_history_start])
        candidate &= ~np.isin(run_id, continuation_runs)
        candidate &= (t >= cutoff).to_numpy()

    idx = np.flatnonzero(candidate)
    if idx.size == 0:
        return empty_alerts()

    # Refractory: walk candidates (few) per animal in time order.
    last: dict[int, pd.Timestamp] = {int(k): _utc_ts(v) for k, v in (last_alert_at or {}).items()
                                     if v is not None and not pd.isna(v)}
    keep = np.zeros(idx.size, dtype=bool)
    cand_animals = animal[idx]
    cand_times = tnp[idx]
    refr = policy.refractory.to_timedelta64()
    prev_animal: int | None = None
    prev_time: np.datetime64 | None = None
    for i, (a, ts) in enumerate(zip(cand_animals, cand_times)):
        a = int(a)
        if a != prev_animal:
            prev_animal = a
            prev = last.get(a)
            prev_time = None if prev is None else prev.tz_convert(None).to_datetime64()
        if prev_time is None or ts >= prev_time + refr:
            keep[i] = True
            prev_time = ts

    sel = idx[keep]
    out = pd.DataFrame({
        "animal_id": animal[sel],
        "bucket_start": tnp[sel],
        "score": df["score"].to_numpy()[sel],
        "threshold": float(policy.threshold),
        "episode_start": episode_start[sel],
    })
    out["bucket_start"] = _utc(out["bucket_start"])
    out["episode_start"] = _utc(out["episode_start"])
    return out.sort_values(["bucket_start", "animal_id"], kind="stable").reset_index(drop=True)[ALERT_COLUMNS]


def update_last_alert_at(
    last_alert_at: Mapping[int, Any] | None, alerts: pd.DataFrame
) -> dict[int, pd.Timestamp]:
    """The state for the next incremental call: each animal's latest alert time."""
    state: dict[int, pd.Timestamp] = {int(k): _utc_ts(v) for k, v in (last_alert_at or {}).items()
                                      if v is not None and not pd.isna(v)}
    if not alerts.empty:
        latest = alerts.groupby("animal_id")["bucket_start"].max()
        for a, ts in latest.items():
            ts = _utc_ts(ts)
            if int(a) not in state or ts > state[int(a)]:
                state[int(a)] = ts
    return state
