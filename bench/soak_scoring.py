"""Soak: score a simulated day (144 ten-minute buckets) for 2,000 animals, one run per bucket.

Real stores, as ``bench_scoring.py`` prepares them (its ``prepare``): a real InfluxDB started
here, a SQLite herd DB, the day's stored baselines, an MLflow SQLite store with an ML champion
and challenger per use case. Then, in one process as a run worker pool would see it, the
``scoring_job`` (in-process executor) runs for every bucket of the day back to back against a
persistent Dagster instance (SQLite, under the work folder).

Reported:

* throughput: buckets scored per minute of wall time;
* lag as if live: ``grace + run duration`` (a live bucket's run is launched by the sensor once
  its window closed ``grace`` ago; the sensor's 60 s tick interval adds up to one more minute);
  p50 / p95 / max;
* memory: peak RSS, and RSS after the first and the last run (growth = a leak over a day);
* failed runs (must be 0) and the predictions table checked for completeness and duplicates.

Run: ``python bench/soak_scoring.py [--animals 2000] [--buckets 144] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

BUCKET = pd.Timedelta(minutes=10)
FMT = "%Y-%m-%d-%H:%M"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=2000)
    parser.add_argument("--buckets", type=int, default=144)
    parser.add_argument("--grace-minutes", type=float, default=5.0)
    parser.add_argument("--keep", help="keep the prepared stores in this folder")
    args = parser.parse_args()

    from bench_scoring import prepare

    from smx_assets.devtools.influx_server import InfluxServer

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="soak_scoring_"))
    root.mkdir(parents=True, exist_ok=True)
    home = root / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    print(f"work folder {root}; load average at start {os.getloadavg()}", flush=True)
    server = InfluxServer.start(root / "influx")
    try:
        t0 = time.perf_counter()
        env = prepare(root, args.animals, server.url)
        print(f"prepared {args.animals} animals in {time.perf_counter() - t0:.0f} s", flush=True)
        os.environ.update(env)

        import dagster as dg
        import sqlalchemy as sa

        from smx_assets.definitions import defs
        from smx_assets.domain.sql_engine import make_engine

        job = defs.resolve_job_def("scoring_job")
        instance = dg.DagsterInstance.get()
        day = pd.to_datetime(env["BENCH_PARTITION"], format=FMT, utc=True).floor("D")
        buckets = [day + k * BUCKET for k in range(args.buckets)]
        durations: list[float] = []
        rss_after: list[float] = []
        failed: list[str] = []
        animals_scored: list[int] = []
        t_soak = time.perf_counter()
        for i, bucket in enumerate(buckets):
            t_run = time.perf_counter()
            try:
                res = job.execute_in_process(instance=instance, partition_key=bucket.strftime(FMT),
                                             raise_on_error=False)
                ok = res.success
                if ok:
                    animals_scored.append(res.asset_materializations_for_node("scores")[0]
                                          .metadata["animals_scored"].value)
            except Exception as exc:  # a crash outside the run is a failure too
                ok = False
                print(f"  {bucket:%H:%M} raised {type(exc).__name__}: {exc}", flush=True)
            durations.append(time.perf_counter() - t_run)
            rss_after.append(rss_mb())
            if not ok:
                failed.append(bucket.strftime(FMT))
            if i % 12 == 11 or not ok:
                print(f"  {i + 1:3d}/{len(buckets)} buckets, last run {durations[-1]:.2f} s, "
                      f"RSS {rss_after[-1]:.0f} MB, failed so far {len(failed)}", flush=True)
        wall = time.perf_counter() - t_soak

        engine = make_engine(env["SMX_HERD_DB_URL"])
        with engine.connect() as conn:
            n_pred = conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar_one()
            dup = conn.execute(sa.text(
                "SELECT count(*) FROM (SELECT 1 FROM predictions GROUP BY use_case, model_name, model_version, "
                "animal_id, bucket_start HAVING count(*) > 1)")).scalar_one()
            per_bucket = conn.execute(sa.text(
                "SELECT count(DISTINCT bucket_start) FROM predictions")).scalar_one()
            n_alerts = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
        runs = instance.get_runs()
        run_failures = sum(1 for r in runs if r.status != dg.DagsterRunStatus.SUCCESS)

        lag = pd.Series(durations) + args.grace_minutes * 60
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("\n=== soak: one scoring run per bucket, back to back ===")
        print(f"animals {args.animals} (scored per bucket: min {min(animals_scored, default=0)}, "
              f"max {max(animals_scored, default=0)}), buckets {len(buckets)}")
        print(f"wall {wall:.0f} s; throughput {len(buckets) / (wall / 60):.1f} buckets/min")
        print(f"run duration s: p50 {pd.Series(durations).median():.2f}, p95 {pd.Series(durations).quantile(0.95):.2f}, "
              f"max {max(durations):.2f}")
        print(f"lag as if live (grace {args.grace_minutes:.0f} min + run) s: p50 {lag.median():.0f}, "
              f"p95 {lag.quantile(0.95):.0f}, max {lag.max():.0f}")
        print(f"memory: peak RSS {peak:.0f} MB; RSS after run 1 {rss_after[0]:.0f} MB, after run "
              f"{len(rss_after)} {rss_after[-1]:.0f} MB")
        print(f"failed runs {len(failed)} (instance: {run_failures} of {len(runs)} runs not SUCCESS) {failed[:5]}")
        print(f"predictions {n_pred} over {per_bucket} buckets, duplicate keys {dup}; alerts {n_alerts}")
        print(f"load average at end {os.getloadavg()}")
        if failed or run_failures or dup or per_bucket != len(buckets):
            sys.exit(1)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
