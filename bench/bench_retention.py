"""Store sizes over a simulated run with retention: per-day growth levels off.

Feeds a herd day by day into real stores — PostgreSQL herd DB (predictions partitioned by day,
written with the scoring writer's COPY), PostgreSQL sensor store (simulated readings), a feature
folder (one Parquet file of scoring vectors per bucket) — and runs the daily retention
(``domain/retention.py``) after each day, as the ``storage_retention`` schedule does. It prints,
per simulated day, what each store holds: with retention the sizes stop growing once a period
has passed (predictions after ``--predictions-days``, feature files after ``--features-days``,
readings after ``--readings-days``); ``--no-retention`` shows the unbounded growth instead.

Predictions are six per animal and bucket (three use cases x champion + shadow, as a scoring
run writes) with synthetic scores; feature vectors have the real column count. InfluxDB's
retention (the database's retention policy, enforced by InfluxDB on the wall clock) is shown
by ``smx_assets_tests/domain/test_retention.py`` instead: simulated past days cannot age there.

Run: ``python bench/bench_retention.py [--animals 200] [--days 30]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from smx_assets.devtools.scratch_databases import create_database, drop_database

PG_ADMIN_URL = os.environ.get("SMX_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
B = pd.Timedelta(minutes=10)
USE_CASES = ("heat", "calving", "fever")


def _predictions(animals: np.ndarray, day: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    buckets = pd.date_range(day, day + pd.Timedelta(days=1), freq=B, inclusive="left")
    a, b = np.meshgrid(animals, buckets.asi8, indexing="ij")
    a, b = a.ravel(), pd.to_datetime(b.ravel(), utc=True)
    parts = []
    for uc in USE_CASES:
        for shadow, version in ((False, "3"), (True, "4")):
            parts.append(pd.DataFrame({
                "use_case": uc, "animal_id": a, "bucket_start": b, "score": rng.random(len(a)), "shadow": shadow,
                "model_name": f"smx-{uc}", "model_version": version, "model_alias": "challenger" if shadow else "champion",
                "mlflow_run_id": uuid.uuid4().hex, "code_version": "bench", "partition_key": "bench",
                "dagster_run_id": None, "feature_ref": None, "scored_at": day + pd.Timedelta(days=1)}))
    return pd.concat(parts, ignore_index=True)


def _features(animals: np.ndarray, day: pd.Timestamp, rng: np.random.Generator, n_cols: int) -> pd.DataFrame:
    buckets = pd.date_range(day, day + pd.Timedelta(days=1), freq=B, inclusive="left")
    a, b = np.meshgrid(animals, buckets.asi8, indexing="ij")
    frame = pd.DataFrame(rng.random((a.size, n_cols)), columns=[f"f{k}" for k in range(n_cols)])
    frame.insert(0, "bucket_start", pd.to_datetime(b.ravel(), utc=True))
    frame.insert(0, "animal_id", a.ravel().astype("int64"))
    return frame


def _folder_bytes(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*.parquet")] if path.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--predictions-days", type=int, default=7)
    parser.add_argument("--features-days", type=int, default=5)
    parser.add_argument("--readings-days", type=int, default=12)
    parser.add_argument("--no-retention", action="store_true")
    args = parser.parse_args()

    from smx_assets.domain.features.pipeline import FEATURE_COLUMNS
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.herd_db_migrate import upgrade_herd_db
    from smx_assets.domain.retention import RetentionPolicy, enforce_retention
    from smx_assets.domain.scoring.outputs import replace_predictions
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.simulator import SimConfig, simulate
    from smx_assets.domain.sql_engine import make_engine

    root = Path(tempfile.mkdtemp(prefix="bench_retention_"))
    herd_name, sensor_name = f"bench_ret_herd_{os.getpid()}", f"bench_ret_sensors_{os.getpid()}"
    herd_url, sensor_url = create_database(PG_ADMIN_URL, herd_name), create_database(PG_ADMIN_URL, sensor_name)
    print(f"load average at start: {os.getloadavg()}")
    try:
        upgrade_herd_db(herd_url)
        engine = make_engine(herd_url)
        store = open_sensor_store(sensor_url)
        store.ensure_schema()
        files = FeatureFiles(str(root / "features"))
        start = pd.Timestamp("2026-06-01", tz="UTC")
        t0 = time.perf_counter()
        sim = simulate(SimConfig(n_animals=args.animals, days=args.days, seed=3, start=start.date()))
        bolus = sim.bolus.drop(columns=["received_at"])
        bolus = bolus[bolus["temp_c"].between(28, 44) & bolus["activity"].ge(0)].drop_duplicates(["animal_id", "ts"])
        kept = ("none" if args.no_retention else f"predictions {args.predictions_days} d, "
                f"features {args.features_days} d, readings {args.readings_days} d")
        print(f"simulated {args.animals} animals x {args.days} days in {time.perf_counter() - t0:.0f} s; retention: {kept}")
        animals = np.sort(sim.animals["id"].to_numpy(dtype="int64"))
        rng = np.random.default_rng(0)
        policy = RetentionPolicy(readings_days=args.readings_days, features_days=args.features_days,
                                 predictions_days=args.predictions_days)
        print(f"{'day':>10} {'pred rows':>10} {'pred MB':>8} {'parts':>5} {'feat files':>10} {'feat MB':>8} "
              f"{'readings':>9} {'read MB':>8} {'removed (pred rows, feat files, readings)':>42}")
        for k in range(args.days):
            day = start + pd.Timedelta(days=k)
            store.write_bolus(bolus[(bolus["ts"] >= day) & (bolus["ts"] < day + pd.Timedelta(days=1))])
            replace_predictions(engine, _predictions(animals, day, rng), day, day + pd.Timedelta(days=1))
            files.write_scored(_features(animals, day, rng, len(FEATURE_COLUMNS)))
            removed = ""
            if not args.no_retention:
                rep = enforce_retention(engine=engine, store=store, files=files, policy=policy,
                                        now=day + pd.Timedelta(days=1, hours=2, minutes=47))
                removed = (f"{rep.predictions_rows_removed}, {rep.feature_files_removed}, "
                           f"{rep.readings.get('bolus_rows_removed', 0)}")
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar_one()
                pred_bytes = conn.execute(sa.text(
                    "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'predictions'")).scalar_one()
                n_parts = conn.execute(sa.text(
                    "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                    "WHERE p.relname = 'predictions'")).scalar_one()
            with store.engine.connect() as conn:  # type: ignore[attr-defined]
                readings = conn.execute(sa.text("SELECT count(*) FROM bolus_readings")).scalar_one()
                read_bytes = conn.execute(sa.text("SELECT pg_total_relation_size('bolus_readings')")).scalar_one()
            n_files, feat_bytes = _folder_bytes(root / "features" / "scored_features")
            print(f"{day.date()!s:>10} {rows:>10} {float(pred_bytes) / 1e6:>8.1f} {n_parts:>5} {n_files:>10} "
                  f"{feat_bytes / 1e6:>8.1f} {readings:>9} {float(read_bytes) / 1e6:>8.1f} {removed:>42}", flush=True)
        print("(partitions include the 8 created ahead of the day; PostgreSQL reuses deleted readings' space "
              "after autovacuum, so the readings table's size levels off later than its row count)")
        print(f"\nload average at end: {os.getloadavg()}")
        store.close()
        engine.dispose()
    finally:
        drop_database(PG_ADMIN_URL, herd_name)
        drop_database(PG_ADMIN_URL, sensor_name)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
