"""Ingest throughput: N animals x D days of synthetic bolus readings into InfluxDB and SQLite.

Targets (issue 2): 1,000 animals x 30 days (4.32 M readings) in < 60 s into InfluxDB and
< 120 s into the SQL store on a 2-core machine. The InfluxDB server is started by this script
in a temporary folder (installed from Debian's package if missing) and stopped afterwards.

    python bench/bench_ingest.py [--animals 1000] [--days 30] [--backends influx,sqlite,postgres]

The frames are synthetic (a daily temperature rhythm plus noise, random activity, pH for 10%
of the boluses) until the herd simulator feeds this script; throughput does not depend on
realism, only on the frame shape.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _scratch_stores import BACKENDS, LOAD_TARGET_S, scratch_store  # noqa: E402

from smx_assets.domain.sensor_store.base import SensorStore  # noqa: E402

READINGS_PER_DAY = 144


def synthetic_bolus(n_animals: int, start: pd.Timestamp, n_buckets: int, seed: int = 0,
                    first_animal: int = 1) -> pd.DataFrame:
    """One reading per animal and 10-minute bucket, at a per-animal second offset in the bucket."""
    rng = np.random.default_rng(seed)
    animals = np.arange(first_animal, first_animal + n_animals, dtype="int64")
    offset_s = rng.integers(0, 600, n_animals)
    bucket_s = np.arange(n_buckets, dtype="int64") * 600
    ts_s = int(start.value // 1_000_000_000) + (bucket_s[None, :] + offset_s[:, None]).ravel()
    hours = (ts_s % 86400) / 3600.0
    temp = 39.0 + 0.5 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.05, ts_s.size)
    has_ph = np.repeat(rng.random(n_animals) < 0.1, n_buckets)
    ph = np.where(has_ph, 6.2 + rng.normal(0, 0.2, ts_s.size), np.nan)
    ts = pd.to_datetime(ts_s * 1_000_000_000, utc=True)
    return pd.DataFrame({
        "animal_id": np.repeat(animals, n_buckets),
        "ts": ts,
        "temp_c": np.round(temp, 2),
        "activity": np.round(rng.gamma(2.0, 10.0, ts_s.size), 1),
        "ph": np.round(ph, 2),
        "received_at": ts + pd.Timedelta(seconds=30),
    })


def bench_store(name: str, store: SensorStore, frame: pd.DataFrame, n_animals: int,
                day_batches: int) -> dict[str, float]:
    """Write day by day (the shape of a real backfill), then time typical reads."""
    store.ensure_schema()
    days = frame["ts"].dt.floor("D")
    t0 = time.perf_counter()
    written = 0
    for _, part in frame.groupby(days, sort=True):
        written += store.write_bolus(part)
    write_s = time.perf_counter() - t0
    end = frame["ts"].max().floor("10min") + pd.Timedelta(minutes=10)
    t0 = time.perf_counter()
    day = store.read_bolus(end - pd.Timedelta(hours=24), end)
    read24_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    window = store.read_bolus(end - pd.Timedelta(minutes=10), end)
    read10_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    one = store.read_bolus(end - pd.Timedelta(days=7), end, animal_ids=[1])
    read_one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    changed = store.buckets_received_since(end - pd.Timedelta(hours=1), end - pd.Timedelta(hours=24), end)
    changed_s = time.perf_counter() - t0
    print(
        f"{name:9s} write {written:>9,} readings in {write_s:6.1f} s = {written / write_s:>9,.0f}/s | "
        f"read 24h x {n_animals} ({len(day):,} rows) {read24_s:5.2f} s | 10-min window "
        f"({len(window):,}) {read10_s:5.3f} s | 7 d one animal ({len(one):,}) {read_one_s:5.3f} s | "
        f"buckets_received_since 24h ({len(changed)}) {changed_s:5.3f} s",
        flush=True,
    )
    store.close()
    return {"write_s": write_s, "read24_s": read24_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--backends", default="influx,sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                        help="database for the postgres backend (tables are created in it)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    start = pd.Timestamp("2025-01-01", tz="UTC")
    frame = synthetic_bolus(args.animals, start, args.days * READINGS_PER_DAY)
    print(f"synthetic frame: {len(frame):,} readings ({args.animals} animals x {args.days} days) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="smx_bench_") as tmp:
        for backend in args.backends.split(","):
            if backend not in BACKENDS:
                parser.error(f"unknown backend {backend!r}")
            with scratch_store(backend, Path(tmp), args.pg_url) as (store, _):
                results[backend] = bench_store("influxdb" if backend == "influx" else backend, store, frame,
                                               args.animals, args.days)

    scale = (args.animals * args.days) / (1000 * 30)
    failed = [b for b, r in results.items() if r["write_s"] > LOAD_TARGET_S[b] * max(scale, 1e-9)]
    if failed:
        print(f"SLOWER THAN TARGET: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
