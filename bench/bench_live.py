"""The live mode, measured: after the default ``smx demo``, ``SMX_LIVE_SIMULATION=1 dagster dev``
(what ``make ui`` starts) for ``--minutes``, then the figures of issue 26's check.

Why a script and not a test: it takes half an hour of wall clock, and its figures (how long a
closed bucket waits to be scored while the demo's unscored morning is caught up behind it) are
what the README states, not a pass/fail assertion.

What it prints, over the buckets that closed during the live period (up to 15 minutes before
its end, so each had time to be scored):

* close-to-scored latency p50/p90/max (first ``scoring_lineage.scored_at`` of a run whose window
  holds the bucket, minus the bucket's close), from ``smx_assets.domain.monitoring.latency``;
* runs per bucket, and buckets not scored at all;
* buckets materialized twice with the same data: two ``scores`` materializations of a bucket
  with the same ``read_readings``/``read_received_until`` (what the run read), and, for
  one-bucket runs, the same ``readings_in_window``;
* how late the farm's deliveries started after their schedule tick.

Run: ``python bench/bench_live.py --minutes 30`` (a fresh home in a temporary folder; ``--home``
keeps it). ``--analyse HOME --since ISO --until ISO`` re-prints the figures of a finished run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_")) and k != "DAGSTER_HOME"}
    env.update({"SMX_HOME": str(home / "smx"), "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO), **extra})
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_live(home: Path, minutes: float, skip_demo: bool) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The default demo, then ``dagster dev`` in live mode for ``minutes``; returns the live period."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    if not skip_demo:
        t0 = time.monotonic()
        demo = subprocess.run([sys.executable, "-m", "smx_assets.cli", "demo"], cwd=home, env=_env(home),
                              capture_output=True, text=True)
        if demo.returncode != 0:
            sys.exit(f"smx demo failed ({demo.returncode}): {demo.stderr[-2000:]}")
        print(f"demo: {time.monotonic() - t0:.0f} s", flush=True)
    subprocess.run([sys.executable, "-m", "smx_assets.cli", "migrate"], cwd=home, env=_env(home),
                   capture_output=True, text=True, check=True)
    port = _free_port()
    log = open(home / "dagster-dev.log", "w")  # noqa: SIM115 - open for the process's lifetime
    start = pd.Timestamp.now(tz="UTC")
    proc = subprocess.Popen([str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                             "-w", str(REPO / "workspace.yaml")],
                            cwd=home, env=_env(home, SMX_LIVE_SIMULATION="1"), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    print(f"live: dagster dev on http://127.0.0.1:{port} (pid {proc.pid}) from {start:%H:%M:%S} for {minutes} min, "
          f"log {home / 'dagster-dev.log'}", flush=True)
    try:
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"dagster dev exited early ({proc.returncode}): see {home / 'dagster-dev.log'}")
            time.sleep(5)
    finally:
        end = pd.Timestamp.now(tz="UTC")
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    return start, end


def twice_with_same_data(instance: object, buckets: list[pd.Timestamp]) -> list[str]:
    """Buckets with two ``scores`` materializations (of one shard) that read the same data."""
    import dagster as dg

    from smx_assets.domain.scoring.reads import parse_read_metadata
    from smx_assets.domain.time_grid import partition_key

    def value(md: dict, key: str) -> object:
        v = md.get(key)
        return getattr(v, "value", v)

    twice = []
    for b in buckets:
        records = instance.fetch_materializations(  # type: ignore[attr-defined]
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("scores"), asset_partitions=[partition_key(b)]),
            limit=50).records
        seen: set[tuple[object, ...]] = set()
        for rec in records:
            md = dict(rec.asset_materialization.metadata) if rec.asset_materialization else {}
            # what the run read (the sensor's own reading of it); for a materialization from
            # before reads were recorded, its readings_in_window
            read = (value(md, "shard"), parse_read_metadata(md) or ("readings_in_window", value(md, "readings_in_window")))
            if read in seen:
                twice.append(partition_key(b))
                break
            seen.add(read)
    return twice


def delivery_delays(instance: object, since: pd.Timestamp, until: pd.Timestamp) -> list[float]:
    """Seconds from each live-simulation schedule tick to its run's start."""
    import dagster as dg

    delays = []
    for r in instance.get_run_records(filters=dg.RunsFilter(  # type: ignore[attr-defined]
            job_name="live_simulation_job", created_after=since.to_pydatetime(), created_before=until.to_pydatetime())):
        tags = r.dagster_run.tags  # the tick time: a hidden tag in Dagster 1.13
        tick = tags.get(".dagster/scheduled_execution_time") or tags.get("dagster/scheduled_execution_time")
        if tick and r.start_time:
            delays.append(r.start_time - pd.Timestamp(tick).timestamp())
    return delays


def print_figures(home: Path, since: pd.Timestamp, until: pd.Timestamp) -> None:
    """Issue 26's figures over the buckets that closed in ``[since, until - 15 min]``."""
    import dagster as dg
    import numpy as np
    import sqlalchemy as sa

    from smx_assets.domain.monitoring.latency import bucket_latencies, latency_figures
    from smx_assets.domain.score_store.lineage import lineage_rows
    from smx_assets.domain.time_grid import BUCKET
    from smx_assets.settings import Settings

    first = since.ceil(BUCKET) - BUCKET  # the first bucket closing at or after `since`
    end = (until - pd.Timedelta(minutes=15)).floor(BUCKET)  # the last close counted: buckets up to end - BUCKET
    buckets = list(pd.date_range(first, end, freq=BUCKET, inclusive="left"))
    engine = sa.create_engine(Settings.from_env(create_home=False).herd_db_url)
    per = bucket_latencies(lineage_rows(engine, start=first, end=end, shadow=False), first, end)
    figures = latency_figures(per)
    unscored = [f"{b:%H:%M}" for b in sorted(set(buckets) - set(per["bucket_start"]))]
    instance = dg.DagsterInstance.from_config(str(home))
    twice = twice_with_same_data(instance, buckets)
    delays = delivery_delays(instance, since, until)
    print(f"live period {since:%Y-%m-%d %H:%M:%S}..{until:%H:%M:%S} UTC; buckets closed in it (up to 15 min "
          f"before its end): {len(buckets)}, scored {len(per)}, not scored {len(unscored)} {unscored}")
    if figures.get("n"):
        print(f"close-to-scored latency (min): p50 {figures['p50']:.1f}, p90 {figures['p90']:.1f}, "
              f"max {figures['max']:.1f} over {figures['n']} buckets")
    print(f"runs per bucket: mean {figures.get('runs_per_bucket_mean', 0)}, max {figures.get('runs_per_bucket_max', 0)}; "
          f"buckets run more than once {figures.get('buckets_run_more_than_once', 0)}; "
          f"buckets materialized twice with the same data: {len(twice)} {twice}")
    if delays:
        print(f"farm deliveries: {len(delays)}, start after their tick p50 {np.median(delays):.1f} s, "
              f"max {max(delays):.1f} s")
    print({"buckets": len(buckets), "scored": len(per), **figures, "twice_same_data": len(twice),
           "delivery_delay_max_s": round(max(delays), 1) if delays else None})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="live period (default 30)")
    ap.add_argument("--home", type=Path, help="DAGSTER_HOME (SMX_HOME is HOME/smx); default a temporary folder")
    ap.add_argument("--skip-demo", action="store_true", help="HOME already holds the demo")
    ap.add_argument("--analyse", type=Path, metavar="HOME", help="only print the figures of a finished run in HOME")
    ap.add_argument("--since", help="start of the live period (ISO, UTC), with --analyse")
    ap.add_argument("--until", help="end of the live period (ISO, UTC), with --analyse")
    args = ap.parse_args()
    if args.analyse:
        print_figures(args.analyse, pd.Timestamp(args.since), pd.Timestamp(args.until))
        return
    home = args.home or Path(tempfile.mkdtemp(prefix="bench_live_"))
    start, end = run_live(home, args.minutes, args.skip_demo)
    # A fresh process reads the stores once dagster dev has let go of them.
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--analyse", str(home),
                    "--since", start.isoformat(), "--until", end.isoformat()], env=_env(home), check=False)


if __name__ == "__main__":
    main()
