"""``smx demo``: the whole chain on the embedded default, as real Dagster runs.

simulate a herd -> daily feature assets (one single-run backfill) -> train and register every
use case -> promote -> retro-score the last K days (one vectorised run) -> monitoring, then a
summary of what happened and where to look. Every stage is a Dagster job executed against
the instance in ``DAGSTER_HOME``, so the runs, materialisations, checks and metadata are
there in the UI afterwards (``make ui``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from smx_assets.commands._args import UserError, int_in
from smx_assets.domain.time_grid import BUCKET_FREQ, PARTITION_KEY_FORMAT

log = logging.getLogger("smx.demo")
MAX_ANIMALS = 20_000  # the simulator's tested range; more is a benchmark, not a demo
MAX_DAYS = 3_650

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole chain end to end on the embedded default")
    p.add_argument("--animals", type=int_in(1, MAX_ANIMALS), default=200, help="herd size (default 200)")
    p.add_argument("--days", type=int_in(1, MAX_DAYS), default=50,
                   help="days of history to simulate (default 50: training needs 45; fewer days keep the rule baselines)")
    p.add_argument("--seed", type=int_in(0), default=7)
    p.add_argument("--score-days", type=int_in(1, MAX_DAYS), default=1,
                   help="days to retro-score at the end (default 1; at most --days)")
    p.add_argument("--fresh", action="store_true", help="delete SMX_HOME's stores first")
    p.set_defaults(func=run)


def _dagster_home() -> Path:
    """DAGSTER_HOME if set; else the repository root when it has our dagster.yaml."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    root = Path(__file__).resolve().parents[2]
    home = root if (root / "dagster.yaml").exists() else Path.cwd()
    os.environ["DAGSTER_HOME"] = str(home)
    return home


class _Stages:
    """Prints one line per stage with its duration, so a person sees progress as it goes."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.t_start = total, 0, time.perf_counter()
        self.timings: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.n += 1
        print(f"[{self.n}/{self.total}] {name} ...", flush=True)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.timings[name] = time.perf_counter() - t0
        print(f"[{self.n}/{self.total}] {name} done in {self.timings[name]:.1f} s", flush=True)
        return out


def _execute(defs, job_name: str, instance, tags: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
             partition_key: str | None = None, run_config: dict | None = None):
    from smx_assets.run_health import worker_tag

    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(instance=instance, tags={**(tags or {}), **worker_tag()}, partition_key=partition_key,
                                    run_config=run_config, raise_on_error=True)
    if not result.success:
        raise RuntimeError(f"{job_name} failed: see run {result.run_id} in the Dagster UI")
    print(f"      run {result.run_id} ({job_name}) succeeded", flush=True)
    return result


def run(args: argparse.Namespace) -> int:
    if args.score_days > args.days:
        raise UserError(f"--score-days {args.score_days} is more than --days {args.days}: "
                        "only simulated days can be scored (use at most --days)")
    dagster_home = _dagster_home()
    from smx_assets import settings

    home = settings.smx_home()
    if args.fresh:
        for name in ("herd.db", "sensors.db", "mlflow.db"):
            for suffix in ("", "-wal", "-shm"):
                (home / f"{name}{suffix}").unlink(missing_ok=True)

    import dagster as dg

    from smx_assets.commands import simulate as simulate_cmd
    from smx_assets.definitions import defs
    from smx_assets.defs.partitions import DAILY_WINDOW_DAYS, SCORES_WINDOW_DAYS, WINDOWS

    today = dt.datetime.now(dt.timezone.utc).date()
    start = today - dt.timedelta(days=args.days)
    score_from = today - dt.timedelta(days=args.score_days)
    problem = _check_ranges(args, score_from, WINDOWS.ten_minute_start, SCORES_WINDOW_DAYS)
    if problem:
        print(f"smx demo: {problem}", file=sys.stderr)
        return 2
    # The daily partitions reach back SMX_DAILY_WINDOW_DAYS: older simulated days stay in the
    # stores as history (training reads the newest 45 days; `smx score` scores any older range).
    features_from = max(start, WINDOWS.daily_start)
    if features_from > start:
        print(f"      daily features from {features_from} (SMX_DAILY_WINDOW_DAYS={DAILY_WINDOW_DAYS}); "
              f"{start}..{features_from - dt.timedelta(days=1)} stays history: "
              f"`smx score --from {start} --to ...` scores it", flush=True)
    print(f"smx demo: {args.animals} animals x {args.days} days (seed {args.seed}), data in {home}, "
          f"Dagster instance in {dagster_home}", flush=True)
    stages = _Stages(5)
    stages.run("simulate herd", simulate_cmd.run, argparse.Namespace(
        animals=args.animals, days=args.days, seed=args.seed, start=start, farms=min(2, args.animals), live=False, steps=1,
        herd_db_url=None, sensor_store_url=None))

    instance = dg.DagsterInstance.get()
    from smx_assets.run_health import fail_dead_runs

    fail_dead_runs(instance)  # runs of an earlier demo that was killed: FAILED, not STARTED forever
    day_range = {RANGE_START: features_from.isoformat(), RANGE_END: (today - dt.timedelta(days=1)).isoformat()}
    stages.run("daily features (single-run backfill)", _execute, defs, "daily_features_job", instance, day_range)
    stages.run("train, register and promote models", _execute, defs, "training_job", instance)
    buckets = pd.date_range(pd.Timestamp(score_from), pd.Timestamp(today), freq=BUCKET_FREQ, inclusive="left")
    fmt = PARTITION_KEY_FORMAT
    stages.run(f"retro-score {len(buckets)} buckets (one run)", _execute, defs, "scoring_job", instance,
               {RANGE_START: buckets[0].strftime(fmt), RANGE_END: buckets[-1].strftime(fmt)})
    if _has_job(defs, "monitoring_job"):
        monitor_range = {RANGE_START: score_from.isoformat(), RANGE_END: (today - dt.timedelta(days=1)).isoformat()}
        stages.run("monitoring (drift, alert volume, performance)", _execute, defs, "monitoring_job", instance,
                   monitor_range)
    else:
        stages.total -= 1

    from smx_assets.commands.summary import print_summary

    print_summary(settings.Settings.from_env(), since=pd.Timestamp(score_from, tz="UTC"))
    total = time.perf_counter() - stages.t_start
    print(f"\nsmx demo finished in {total:.0f} s. Open the UI with `make ui` (http://127.0.0.1:3000), "
          f"MLflow with `.venv/bin/mlflow ui --backend-store-uri {settings.Settings.from_env().mlflow_tracking_uri}`.")
    return 0


def _check_ranges(args: argparse.Namespace, score_from: dt.date, ten_minute_start: dt.date,
                  scores_window_days: int) -> str | None:
    """A one-line reason the requested ranges cannot run, or None."""
    if args.days < 1:
        return f"--days {args.days}: simulate at least one day (training needs 45 days of features)"
    if args.animals < 1:
        return f"--animals {args.animals}: at least one animal"
    if args.score_days < 1:
        return f"--score-days {args.score_days}: score at least one day"
    if score_from < ten_minute_start:
        return (f"--score-days {args.score_days} reaches {score_from}, before the ten-minute partitions "
                f"(they start {ten_minute_start}: SMX_SCORES_WINDOW_DAYS={scores_window_days}); "
                f"use at most {scores_window_days} or score older days with `smx score --from --to`")
    return None


def _has_job(defs, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        defs.resolve_job_def(name)
        return True
    except Exception:  # noqa: BLE001 - Dagster raises different errors across versions
        return False
