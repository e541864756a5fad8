"""Benchmark a training-features backfill (issue 6: 60 days for 1,000 animals).

Simulates a herd (default 1,000 animals, 60 days plus 2 days of history), loads it through
the real loader and validation into the embedded SQL stores (or InfluxDB with --influx), then
runs ONE Dagster run that backfills ``animal_profiles``, ``sensor_baselines`` and
``training_features`` over the 60 days (single-run backfill policy), and prints the times,
rows and peak memory.

Run: ``python bench/bench_backfill.py [--animals 1000] [--days 60] [--influx]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--influx", action="store_true", help="sensor store = a real InfluxDB started here")
    args = parser.parse_args()

    import dagster as dg

    from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features
    from smx_assets.defs.ingest.assets import SOURCE_SPECS
    from smx_assets.domain.features.storage import TRAINING, FeatureFiles
    from smx_assets.domain.herd_db_migrate import upgrade_herd_db
    from smx_assets.domain.simulator import SimConfig, simulate
    from smx_assets.domain.simulator.loader import load
    from smx_assets.resources import FeatureStoreResource, HerdDbResource, SensorStoreResource

    root = Path(tempfile.mkdtemp(prefix="bench_backfill_"))
    print(f"load average at start: {os.getloadavg()}; data in {root}", flush=True)
    server = None
    store_url = f"sqlite:///{root / 'sensors.db'}"
    if args.influx:
        from smx_assets.devtools.influx_server import InfluxServer

        server = InfluxServer.start(root / "influx")
        store_url = server.url
    try:
        start = dt.date(2026, 9, 1)
        cfg = SimConfig(n_animals=args.animals, days=args.days + 2, seed=5, start=start)
        upgrade_herd_db(f"sqlite:///{root / 'herd.db'}")  # start-up step: resources only check the schema
        res = {
            "herd_db": HerdDbResource(url=f"sqlite:///{root / 'herd.db'}"),
            "sensor_store": SensorStoreResource(url=store_url),
            "feature_store": FeatureStoreResource(base_path=str(root / "features")),
        }
        t0 = time.perf_counter()
        herd = simulate(cfg)
        t_sim = time.perf_counter() - t0
        counts = load(herd, res["herd_db"].engine(), res["sensor_store"].open())
        t_load = time.perf_counter() - t0 - t_sim
        print(f"simulated {args.animals} x {args.days + 2} days in {t_sim:.1f} s, loaded "
              f"{counts['bolus_readings_sent']:,} bolus readings in {t_load:.1f} s", flush=True)

        first = pd.Timestamp(start) + pd.Timedelta(days=2)
        last = first + pd.Timedelta(days=args.days - 1)
        with dg.instance_for_test() as instance:
            t0 = time.perf_counter()
            result = dg.materialize(
                [animal_profiles, sensor_baselines, training_features, *SOURCE_SPECS],
                selection=[animal_profiles, sensor_baselines, training_features],
                resources=res, instance=instance,
                tags={"dagster/asset_partition_range_start": first.strftime("%Y-%m-%d"),
                      "dagster/asset_partition_range_end": last.strftime("%Y-%m-%d")},
            )
            t_backfill = time.perf_counter() - t0
        assert result.success
        files = FeatureFiles(str(root / "features"))
        rows = sum(len(files.read(TRAINING, d)) for d in pd.date_range(first, last, freq="D"))
        mats = len(result.asset_materializations_for_node("training_features"))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\nbackfill of {mats} training_features partitions ({first.date()}..{last.date()}) in ONE run: "
              f"{t_backfill:.0f} s ({t_backfill / args.days:.1f} s/day), {rows:,} feature rows, "
              f"peak RSS {peak:.0f} MB", flush=True)
        print(f"load average at end: {os.getloadavg()}")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
