"""Benchmark the feature layer (issue 3's targets).

* training: one day of training features (features + labels + Parquet write) for 1,000
  simulated animals, from in-memory readings — target < 30 s;
* serving: the latest bucket's features for 10,000 animals read from a real InfluxDB
  (started here with ``smx_assets.devtools.influx_server``) plus stored baselines — target < 5 s;
* peak memory of each, measured in a second pass under ``tracemalloc`` (numpy buffers are
  traced) so the timed pass is not slowed by tracing; plus the process's max RSS.

Run: ``python bench/bench_features.py [--train-animals 1000] [--serve-animals 10000] [--serving-only]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from smx_assets.domain.features import attach_labels, compute_features
from smx_assets.domain.features.baselines import baselines_from_stats, daily_hourly_stats
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.features.profile import records_from_tables
from smx_assets.domain.features.serving import bucket_features
from smx_assets.domain.features.storage import BASELINES, TRAINING, FeatureFiles
from smx_assets.domain.sensor_store.read_cache import CLOCK_SLACK_S
from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.simulation import simulate
from smx_assets.domain.time_grid import BUCKET

DAY = pd.Timedelta(days=1)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench_training(n_animals: int, tmp: Path) -> dict[str, float]:
    cfg = SimConfig(n_animals=n_animals, days=11, seed=1)
    herd, t_sim = timed(lambda: simulate(cfg))
    records = records_from_tables(herd.tables())
    day = cfg.start_ts + 10 * DAY
    stats, t_stats = timed(lambda: pd.concat(
        [daily_hourly_stats(herd.bolus[(herd.bolus["ts"] >= d - LOOKBACK) & (herd.bolus["ts"] < d + DAY)], d)
         for d in pd.date_range(cfg.start_ts, day, freq="D", inclusive="left")], ignore_index=True))
    baselines = baselines_from_stats(stats, day)
    files = FeatureFiles(str(tmp / "features"))
    readings = herd.bolus[(herd.bolus["ts"] >= day - LOOKBACK) & (herd.bolus["ts"] < day + DAY)]
    climate = herd.climate[(herd.climate["ts"] >= day - LOOKBACK) & (herd.climate["ts"] < day + DAY)]

    def one_day() -> pd.DataFrame:
        frame = compute_features(readings, climate, records, baselines, (day, day + DAY))
        frame = attach_labels(frame, records)
        files.write(frame, TRAINING, day)
        return frame

    frame, t_day = timed(one_day)
    mem = peak_mb(one_day)
    print(f"training: {n_animals} animals, 1 day -> {len(frame):,} rows x {frame.shape[1]} columns "
          f"in {t_day:.2f} s (target < 30 s); peak traced memory {mem:.0f} MB")
    print(f"  (simulating {cfg.days} days took {t_sim:.1f} s; baseline stats for 10 days {t_stats:.1f} s; "
          f"missing share {frame.iloc[:, 2:].isna().to_numpy().mean():.3f}; "
          f"label positives heat/calving/fever {int((frame['label_heat'] == 1).sum())}/"
          f"{int((frame['label_calving'] == 1).sum())}/{int((frame['label_fever'] == 1).sum())})")
    return {"train_s": t_day, "train_peak_mb": mem}


def bench_serving(n_animals: int, tmp: Path) -> dict[str, float]:
    """Serving from a real InfluxDB, three ways, all giving the identical frame (asserted):

    * ``no cache``: the full 26 h read every time (what any cold process does);
    * ``cold cache``: the store's read cache on an empty folder (first run after a start);
    * ``steady state``: the run of the next bucket after the previous run filled the cache,
      with the ten minutes of arrivals in between (the new bucket, cows' late 2-h blocks), as
      the simulator models delivery (what the ten-minute scorer does every run).
    """
    from smx_assets.devtools.influx_server import InfluxServer
    from smx_assets.domain.sensor_store.factory import open_sensor_store

    cfg = SimConfig(n_animals=n_animals, days=2, seed=2)
    herd, t_sim = timed(lambda: simulate(cfg))
    records = records_from_tables(herd.tables())
    bucket = cfg.start_ts + DAY + pd.Timedelta(hours=23, minutes=50)  # the latest complete bucket
    files = FeatureFiles(str(tmp / "features"))
    # Baselines for the bucket's day (from the single prior day available: the point is the read path).
    stats = daily_hourly_stats(herd.bolus[herd.bolus["ts"] < cfg.start_ts + DAY], cfg.start_ts)
    files.write(baselines_from_stats(stats, bucket.floor("D"), n_days=1, min_days=1), BASELINES, bucket.floor("D"))

    # Arrivals as the simulator models them (on time within seconds, or a cow's 2-h block hours
    # late): this run is at `now` (the bucket's end plus a 2-minute grace), the previous one ten
    # minutes earlier; readings received in between are written between the two runs.
    bolus = herd.bolus
    now = bucket + BUCKET + pd.Timedelta(minutes=2)
    window = (bolus["ts"] >= bucket - BUCKET - LOOKBACK) & (bolus["ts"] < bucket + BUCKET)
    before = window & (bolus["received_at"] < now - BUCKET)
    between = window & (bolus["received_at"] >= now - BUCKET) & (bolus["received_at"] < now)
    late = between & (bolus["ts"] < bucket)
    server = InfluxServer.start(tmp / "influx")
    try:
        plain = open_sensor_store(server.url)
        cached = open_sensor_store(f"{server.url}?read_cache={tmp / 'read_cache'}")
        plain.ensure_schema()
        _, t_write = timed(lambda: plain.write_bolus(bolus[before]))
        plain.write_climate(herd.climate.drop(columns=["received_at"]))
        # history is older than the cache's clock slack in real life: buckets written within it
        # before a fetch are (correctly) fetched again by the next run
        time.sleep(CLOCK_SLACK_S + 1)

        prev, t_cold = timed(lambda: bucket_features(cached, records, files, bucket - BUCKET))
        cold_stats = dict(cached.read_cache.last_stats)
        plain.write_bolus(bolus[between])  # ten minutes of arrivals: the new bucket and late blocks
        frame, t_steady = timed(lambda: bucket_features(cached, records, files, bucket))
        steady_stats = dict(cached.read_cache.last_stats)
        full, t_full = timed(lambda: bucket_features(plain, records, files, bucket))
        pd.testing.assert_frame_equal(frame, full)  # the cache returns exactly what a full read does
        _, t_read_full = timed(lambda: plain.read_bolus(bucket - LOOKBACK, bucket + BUCKET))
        _, t_read_warm = timed(lambda: cached.read_bolus(bucket - LOOKBACK, bucket + BUCKET))
        mem = peak_mb(lambda: bucket_features(cached, records, files, bucket))
        plain.close()
        cached.close()
    finally:
        server.stop()
    n_read = int((window & (bolus["received_at"] < now) & (bolus["ts"] >= bucket - LOOKBACK)).sum())
    print(f"serving: {n_animals} animals, latest bucket {bucket} -> {len(frame):,} rows (target < 5 s); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  steady state (cache warm; {int(between.sum()):,} readings arrived since the last run, "
          f"{int(late.sum()):,} of them late for older buckets): {t_steady:.2f} s; "
          f"read cache {steady_stats}")
    print(f"  no cache (full read of {n_read:,} readings every run): {t_full:.2f} s, of which the bolus read "
          f"{t_read_full:.2f} s (warm cache read of the same window {t_read_warm:.2f} s)")
    print(f"  cold cache (first run after a start): {t_cold:.2f} s; read cache {cold_stats}")
    print(f"  identical frames with and without the cache; peak traced memory (steady state) {mem:.0f} MB")
    print(f"  (simulating took {t_sim:.1f} s; writing the 26 h window to InfluxDB {t_write:.1f} s)")
    return {"serve_s": t_steady, "serve_full_s": t_full, "serve_cold_s": t_cold,
            "serve_read_s": t_read_full, "serve_peak_mb": mem}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-animals", type=int, default=1000)
    parser.add_argument("--serve-animals", type=int, default=10000)
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--serving-only", action="store_true", help="skip the training benchmark")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="smx_bench_features_") as d:
        tmp = Path(d)
        if not args.serving_only:
            bench_training(args.train_animals, tmp)
        if not args.skip_serving:
            bench_serving(args.serve_animals, tmp)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MB (includes the simulator's frames)")


if __name__ == "__main__":
    main()
