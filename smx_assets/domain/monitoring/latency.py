"""Close-to-scored latency: how long a bucket waited, after it closed, for its first scores.

Measured per bucket, not per run: a bucket scored by the sensor's newest-first run, by a ranged
catch-up run behind it, or both, counts once, at its *first* scoring run (the first lineage row
whose window holds it), and the other runs that covered it are its ``runs``. A bucket first
scored more than :data:`LIVE_HORIZON` after it closed was retro-scored or backfilled (the demo's
history, `smx score` over last month): it is counted as ``n_later`` and kept out of the
percentiles, which are about the ten-minute path a person watches.

Used by ``scoring_operations`` (per day) and ``bench/bench_live.py`` (over a live period).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.time_grid import BUCKET

LIVE_HORIZON = pd.Timedelta(hours=24)


def bucket_latencies(runs: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One row per bucket starting in ``[start, end)`` that a run scored: ``bucket_start``,
    ``first_scored_at``, ``latency_min`` (first scoring minus the bucket's close) and ``runs``
    (distinct Dagster runs whose window held it).

    ``runs``: scoring-lineage rows (``window_start``, ``window_end`` exclusive, ``scored_at``,
    ``dagster_run_id``, ``n_scores``), aware UTC; rows that wrote no score (a bucket without
    readings, a run that died before its files were in place) are left out.
    """
    cols = ["bucket_start", "first_scored_at", "latency_min", "runs"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    runs = runs[runs["n_scores"].fillna(0) > 0]
    first: dict[pd.Timestamp, pd.Timestamp] = {}
    by_run: dict[pd.Timestamp, set[str]] = {}
    for ws, we, at, run_id in runs[["window_start", "window_end", "scored_at", "dagster_run_id"]].itertuples(index=False):
        lo, hi = max(ws, start), min(we, end)
        if lo >= hi:  # outside [start, end) (date_range would still give lo for lo == hi)
            continue
        for b in pd.date_range(lo, hi, freq=BUCKET, inclusive="left"):
            first[b] = min(first.get(b, at), at)
            by_run.setdefault(b, set()).add(str(run_id))
    if not first:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({"bucket_start": list(first), "first_scored_at": list(first.values())})
    out["latency_min"] = (out["first_scored_at"] - (out["bucket_start"] + BUCKET)) / pd.Timedelta(minutes=1)
    out["runs"] = [len(by_run[b]) for b in out["bucket_start"]]
    return out.sort_values("bucket_start").reset_index(drop=True)


def latency_figures(per_bucket: pd.DataFrame) -> dict[str, Any]:
    """p50/p90/max latency (minutes) over buckets first scored within :data:`LIVE_HORIZON` of
    their close, with ``n`` behind them; ``n_later`` buckets scored later; runs per bucket."""
    if per_bucket.empty:
        return {"n": 0, "n_later": 0}
    live = per_bucket["latency_min"] <= LIVE_HORIZON / pd.Timedelta(minutes=1)
    lat = per_bucket.loc[live, "latency_min"].to_numpy(dtype="float64")
    out: dict[str, Any] = {"n": int(live.sum()), "n_later": int((~live).sum())}
    if lat.size:
        out.update({"p50": round(float(np.percentile(lat, 50)), 2), "p90": round(float(np.percentile(lat, 90)), 2),
                    "max": round(float(lat.max()), 2)})
    runs = per_bucket["runs"].to_numpy()
    out.update({"runs_per_bucket_mean": round(float(runs.mean()), 3), "runs_per_bucket_max": int(runs.max()),
                "buckets_run_more_than_once": int((runs > 1).sum())})
    return out
