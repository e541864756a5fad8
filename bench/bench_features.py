"""Benchmark the feature layer (issue 3's targets).

* training: one day of training features (features + labels + Parquet write) for 1,000
  simulated animals, from in-memory readings — target < 30 s;
* serving: the latest bucket's features for 10,000 animals read from a real InfluxDB
  (started here with ``smx_assets.devtools.influx_server``) plus stored baselines — target < 5 s;
* peak memory of each, measured in a second pass under ``tracemalloc`` (numpy buffers are
  traced) so the timed pass is not slowed by tracing; plus the process's max RSS.

Run: ``python bench/bench_features.py [--train-animals 1000] [--serve-animals 10000]``.
"""

from __future__ import annotations

import argparse
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
from smx_assets.domain.sensor_store.base import BUCKET
from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.simulation import simulate

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

    server = InfluxServer.start(tmp / "influx")
    try:
        store = open_sensor_store(server.url)
        store.ensure_schema()
        window = (herd.bolus["ts"] >= bucket - LOOKBACK) & (herd.bolus["ts"] < bucket + BUCKET)
        _, t_write = timed(lambda: store.write_bolus(herd.bolus[window].drop(columns=["received_at"])))
        store.write_climate(herd.climate.drop(columns=["received_at"]))

        def serve() -> pd.DataFrame:
            return bucket_features(store, records, files, bucket)

        serve()  # warm InfluxDB's caches and the HTTP connection, as a long-lived scorer would be
        frame, t_serve = timed(serve)
        _, t_read = timed(lambda: store.read_bolus(bucket - LOOKBACK, bucket + BUCKET))
        mem = peak_mb(serve)
        store.close()
    finally:
        server.stop()
    print(f"serving: {n_animals} animals, latest bucket {bucket} -> {len(frame):,} rows in {t_serve:.2f} s "
          f"(target < 5 s; of which InfluxDB read of {int(window.sum()):,} readings {t_read:.2f} s); "
          f"peak traced memory {mem:.0f} MB")
    print(f"  (simulating took {t_sim:.1f} s; writing the 26 h window to InfluxDB {t_write:.1f} s)")
    return {"serve_s": t_serve, "serve_read_s": t_read, "serve_peak_mb": mem}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-animals", type=int, default=1000)
    parser.add_argument("--serve-animals", type=int, default=10000)
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smx_bench_features_") as d:
        tmp = Path(d)
        bench_training(args.train_animals, tmp)
        if not args.skip_serving:
            bench_serving(args.serve_animals, tmp)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MB (includes the simulator's frames)")


if __name__ == "__main__":
    main()
