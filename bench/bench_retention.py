"""Store sizes over a simulated run with retention: per-day growth levels off.

Feeds a herd day by day into real stores — the score store (one Parquet file per bucket as
scoring runs write them, lineage rows in a PostgreSQL herd DB), PostgreSQL sensor store
(simulated readings), a feature folder (one Parquet file of scoring vectors per bucket) — and
runs the daily retention (which also compacts each finished day of scores)
(``domain/retention.py``) after each day, as the ``storage_retention`` schedule does. It prints,
per simulated day, what each store holds: with retention the sizes stop growing once a period
has passed (scores after ``--predictions-days``, feature files after ``--features-days``,
readings after ``--readings-days``); ``--no-retention`` shows the unbounded growth instead.

Scores are six per animal and bucket (three use cases x champion + shadow, as a scoring run
writes) with synthetic scores, one lineage row per use case and role a day; feature vectors have the real column count. InfluxDB's
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


def _write_scores(engine: sa.Engine, root: Path, animals: np.ndarray, day: pd.Timestamp,
                  rng: np.random.Generator) -> int:
    """A day of scores as a retro run writes them: six lineage rows, one file per bucket."""
    from smx_assets.domain.score_store import ScoreFiles
    from smx_assets.domain.score_store.files import bucket_table
    from smx_assets.domain.score_store.lineage import RunLineage, ScoredModel, finish_lineage, record_lineage

    models = [ScoredModel(uc, shadow, f"smx-{uc}", version, "challenger" if shadow else "champion", uuid.uuid4().hex)
              for uc in USE_CASES for shadow, version in ((False, "3"), (True, "4"))]
    run = RunLineage(code_version="bench", partition_key="bench", dagster_run_id=None, window_start=day,
                     window_end=day + pd.Timedelta(days=1), shard="", feature_ref=None,
                     scored_at=day + pd.Timedelta(days=1))
    ids = np.array(list(record_lineage(engine, run, models).values()), dtype="int32")
    files = ScoreFiles(str(root / "features"))
    lineage, animal = np.repeat(ids, len(animals)), np.tile(animals, len(ids))
    for bucket in pd.date_range(day, day + pd.Timedelta(days=1), freq=B, inclusive="left"):
        files.write_bucket(bucket, bucket_table(lineage, animal, rng.random(len(lineage))))
    n = len(lineage) * 144
    finish_lineage(engine, {int(i): len(animals) * 144 for i in ids}, 144)
    return n


def _alerts(animals: np.ndarray, day: pd.Timestamp, rng: np.random.Generator, per_animal_day: float,
            columns: list[str]) -> pd.DataFrame:
    """A day's alerts as scoring raises them (with their full feature vector, kept for ever)."""
    n = rng.binomial(len(animals), min(per_animal_day, 1.0))
    picks = rng.choice(animals, size=n, replace=False)
    buckets = day + pd.to_timedelta(rng.integers(0, 144, size=n) * 10, unit="min")
    return pd.DataFrame({
        "use_case": rng.choice(USE_CASES, size=n), "animal_id": picks, "bucket_start": buckets,
        "score": rng.random(n), "threshold": 0.5, "model_name": "smx-heat", "model_version": "3",
        "mlflow_run_id": uuid.uuid4().hex, "code_version": "bench", "partition_key": f"{day:%Y-%m-%d}-00:00..23:50",
        "dagster_run_id": uuid.uuid4().hex, "feature_ref": f"file:///data/features/alert_features/{day:%Y-%m-%d}.parquet"
        "#animal_id=1", "features": [dict(zip(columns, rng.random(len(columns)).round(6))) for _ in range(n)],
        "created_at": day + pd.Timedelta(days=1)})


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
    parser.add_argument("--alerts-per-animal-day", type=float, default=0.06,
                        help="alerts raised a day per animal (heat every 21 days is 0.048, plus calving and fever)")
    parser.add_argument("--no-retention", action="store_true")
    args = parser.parse_args()

    from smx_assets.domain.features.pipeline import FEATURE_COLUMNS
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.herd_db_migrate import upgrade_herd_db
    from smx_assets.domain.retention import RetentionPolicy, enforce_retention
    from smx_assets.domain.score_store import ScoreFiles, ScoreStore
    from smx_assets.domain.scoring.outputs import insert_alerts
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
        kept = ("none" if args.no_retention else f"scores {args.predictions_days} d, "
                f"features {args.features_days} d, readings {args.readings_days} d")
        print(f"simulated {args.animals} animals x {args.days} days in {time.perf_counter() - t0:.0f} s; retention: {kept}")
        animals = np.sort(sim.animals["id"].to_numpy(dtype="int64"))
        rng = np.random.default_rng(0)
        policy = RetentionPolicy(readings_days=args.readings_days, features_days=args.features_days,
                                 predictions_days=args.predictions_days)
        scores = ScoreStore(engine, ScoreFiles(str(root / "features")))
        print(f"{'day':>10} {'scores':>10} {'score MB':>8} {'B/score':>7} {'lineage':>7} {'herd MB':>7} "
              f"{'feat files':>10} {'feat MB':>8} {'readings':>9} {'read MB':>8} "
              f"{'removed (score days, feat files, readings)':>43}")
        for k in range(args.days):
            day = start + pd.Timedelta(days=k)
            store.write_bolus(bolus[(bolus["ts"] >= day) & (bolus["ts"] < day + pd.Timedelta(days=1))])
            _write_scores(engine, root, animals, day, rng)
            insert_alerts(engine, _alerts(animals, day, rng, args.alerts_per_animal_day, list(FEATURE_COLUMNS)))
            files.write_scored(_features(animals, day, rng, len(FEATURE_COLUMNS)))
            removed = ""
            if not args.no_retention:
                rep = enforce_retention(engine=engine, store=store, files=files, policy=policy,
                                        now=day + pd.Timedelta(days=1, hours=2, minutes=47))
                removed = (f"{len(rep.score_days_removed)}, {rep.feature_files_removed}, "
                           f"{rep.readings.get('bolus_rows_removed', 0)}")
            rows = scores.count(start, day + pd.Timedelta(days=1))
            score_bytes = scores.files.bytes_at_rest()
            with engine.connect() as conn:
                n_lineage = conn.execute(sa.text("SELECT count(*) FROM scoring_lineage")).scalar_one()
                lineage_bytes = conn.execute(sa.text("SELECT pg_total_relation_size('scoring_lineage')")).scalar_one()
                n_alerts = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
                alert_bytes = conn.execute(sa.text("SELECT pg_total_relation_size('alerts')")).scalar_one()
                herd_bytes = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
            with store.engine.connect() as conn:  # type: ignore[attr-defined]
                readings = conn.execute(sa.text("SELECT count(*) FROM bolus_readings")).scalar_one()
                read_bytes = conn.execute(sa.text("SELECT pg_total_relation_size('bolus_readings')")).scalar_one()
            n_files, feat_bytes = _folder_bytes(root / "features" / "scored_features")
            print(f"{day.date()!s:>10} {rows:>10} {score_bytes / 1e6:>8.1f} {score_bytes / max(rows, 1):>7.2f} "
                  f"{n_lineage:>7} {float(herd_bytes) / 1e6:>7.1f} {n_files:>10} "
                  f"{feat_bytes / 1e6:>8.1f} {readings:>9} {float(read_bytes) / 1e6:>8.1f} {removed:>43}", flush=True)
        print("(retention runs the morning after each day and compacts it; the synthetic scores are uniform random "
              "doubles, compression's worst case: real scores take 2.7-3 bytes, see bench_scoring.py; PostgreSQL "
              "reuses deleted readings' space after autovacuum, so the readings table's size levels off later than "
              "its row count)")
        print(f"herd DB at the end: {n_lineage} lineage rows in {lineage_bytes:,} bytes "
              f"({lineage_bytes / max(n_lineage, 1):,.0f} B a row, table + indexes, pages not full); "
              f"{n_alerts} alerts in {alert_bytes:,} bytes ({alert_bytes / max(n_alerts, 1):,.0f} B an alert with its "
              f"{len(FEATURE_COLUMNS)}-column feature vector, TOAST included)")
        print(f"\nload average at end: {os.getloadavg()}")
        store.close()
        engine.dispose()
    finally:
        drop_database(PG_ADMIN_URL, herd_name)
        drop_database(PG_ADMIN_URL, sensor_name)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
