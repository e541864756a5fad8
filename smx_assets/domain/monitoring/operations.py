"""Operational figures of the scoring path: lag from bucket end to output, runs and failures.

Computed from plain frames/records so the Dagster asset only gathers inputs. Lags are measured
on live scoring only (a single-bucket ``partition_key``): retro-scoring a range hours or weeks
later is not lag, and would swamp the figure a person watches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.time_grid import BUCKET


def lag_minutes(frame: pd.DataFrame, at_column: str) -> dict[str, float | int]:
    """Lag ``at_column - (bucket_start + 10 min)`` in minutes over live-scored rows.

    Returns ``n`` (live rows), ``n_retro`` (rows from ranged runs, excluded) and p50/p95/max.
    """
    if frame.empty:
        return {"n": 0, "n_retro": 0}
    live = ~frame["partition_key"].astype(str).str.contains(r"\.\.", regex=True)
    f = frame[live]
    out: dict[str, float | int] = {"n": int(live.sum()), "n_retro": int((~live).sum())}
    if f.empty:
        return out
    lag = (pd.to_datetime(f[at_column], utc=True) - (pd.to_datetime(f["bucket_start"], utc=True) + BUCKET))
    minutes = (lag / pd.Timedelta(minutes=1)).to_numpy(dtype="float64")
    out.update({"p50": round(float(np.percentile(minutes, 50)), 3), "p95": round(float(np.percentile(minutes, 95)), 3),
                "max": round(float(minutes.max()), 3)})
    return out


@dataclass(frozen=True)
class RunRow:
    """One Dagster run, as plain values (the asset converts the instance's run records)."""

    job_name: str
    status: str  # SUCCESS | FAILURE | CANCELED | STARTED | ...
    start: float | None  # unix seconds
    end: float | None


def run_figures(runs: Iterable[RunRow]) -> dict[str, Any]:
    """Totals and per-job counts/durations for one day's runs."""
    rows = list(runs)
    per_job: dict[str, dict[str, Any]] = {}
    for job in sorted({r.job_name for r in rows}):
        jr = [r for r in rows if r.job_name == job]
        durations = [r.end - r.start for r in jr if r.start is not None and r.end is not None]
        per_job[job] = {"runs": len(jr), "failures": sum(r.status == "FAILURE" for r in jr),
                        "duration_p50_s": round(float(np.median(durations)), 3) if durations else None,
                        "duration_max_s": round(float(max(durations)), 3) if durations else None}
    durations = [r.end - r.start for r in rows if r.start is not None and r.end is not None]
    return {"runs": len(rows), "failures": sum(r.status == "FAILURE" for r in rows),
            "success": sum(r.status == "SUCCESS" for r in rows),
            "duration_p50_s": round(float(np.median(durations)), 3) if durations else None,
            "duration_max_s": round(float(max(durations)), 3) if durations else None,
            "per_job": per_job}


def flatten_numbers(prefix: str, values: Mapping[str, Any]) -> dict[str, float | int]:
    """``{prefix}_{key}`` -> number, skipping None: Dagster plots each numeric metadata key.
    Counts stay integers (a run count of ``12.0`` reads as a measurement)."""
    return {f"{prefix}_{k}": (v if isinstance(v, int) and not isinstance(v, bool) else float(v))
            for k, v in values.items() if isinstance(v, (int, float)) and v is not None}


# Readable metadata names for the day's figures (``runs_runs`` and ``..._n`` said nothing).
READABLE_NAMES: dict[str, str] = {
    "scoring_lag_min_n": "live_predictions", "scoring_lag_min_n_retro": "retro_predictions",
    "scoring_lag_min_p50": "scoring_lag_p50_min", "scoring_lag_min_p95": "scoring_lag_p95_min",
    "scoring_lag_min_max": "scoring_lag_max_min",
    "alert_lag_min_n": "live_alerts", "alert_lag_min_n_retro": "retro_alerts",
    "alert_lag_min_p50": "alert_lag_p50_min", "alert_lag_min_p95": "alert_lag_p95_min",
    "alert_lag_min_max": "alert_lag_max_min",
    "close_to_scored_min_n": "buckets_scored_live", "close_to_scored_min_n_later": "buckets_scored_later_than_a_day",
    "close_to_scored_min_p50": "close_to_scored_p50_min", "close_to_scored_min_p90": "close_to_scored_p90_min",
    "close_to_scored_min_max": "close_to_scored_max_min",
    "close_to_scored_min_runs_per_bucket_mean": "scoring_runs_per_bucket_mean",
    "close_to_scored_min_runs_per_bucket_max": "scoring_runs_per_bucket_max",
    "close_to_scored_min_buckets_run_more_than_once": "buckets_run_more_than_once",
    "runs_runs": "dagster_runs", "runs_failures": "dagster_runs_failed", "runs_success": "dagster_runs_succeeded",
    "runs_duration_p50_s": "run_duration_p50_s", "runs_duration_max_s": "run_duration_max_s",
}


def readable(figures: Mapping[str, float | int]) -> dict[str, float | int]:
    """The day's figures under :data:`READABLE_NAMES` (unknown keys kept as they are)."""
    return {READABLE_NAMES.get(k, k): v for k, v in figures.items()}
