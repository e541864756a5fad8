"""Benchmark one ten-minute scoring run (issue 5's targets).

For each herd size (default 1,000 and 10,000 animals) this script prepares real stores — a
real InfluxDB (started here), a SQLite herd DB, a feature folder with the day's stored
baselines, an MLflow SQLite store with an ML champion and an ML challenger for every use case
— then measures, each in a fresh Python process:

* ``domain``: the same computation without Dagster (load models, read the trailing window
  from InfluxDB, features, three use cases x champion + shadow, write the scores to the score
  store, lineage and alerts to the herd DB);
* ``dagster``: one real ``scores`` materialisation of that bucket (in-process executor).

Runs use the InfluxDB store's read cache (``read_cache=``) filled as the previous ten-minute run
would have left it (the window of the bucket before), so each run fetches the new bucket only;
``--no-cache-runs`` adds one run per mode that reads the whole 26 h window (a cold start).

Each measured run is the bucket's first scoring, as a ten-minute run is: the bucket's score
file and alerts of the run before are removed first; ``--rescore`` keeps them (a late-data
re-score, which replaces the bucket's file).

Also measured, per herd size:

* ``sql_rows_written``: rows the run inserted, updated or deleted in the herd DB (counted in
  the run's process by a SQLAlchemy cursor hook on the herd DB's engine: lineage rows, alerts,
  their updates), for the Dagster run;
* ``bytes_per_score``: after the measured runs, the six buckets up to the benchmarked one are
  scored in one ranged run, the day is compacted by the store's own compaction (as retention
  does every night), and the day's bytes at rest are divided by the scores it holds.

It prints the wall time and peak RSS of each, and the ratio dagster / domain. Targets (issue 23):
100,000 animals <= 10 s in a Dagster run, peak RSS <= 1 GB, ratio <= 1.1, <= 1,000 SQL rows a
run, <= 8 bytes a stored score. ``--json`` prints, as the last line, one JSON object of the last
herd size (``animals``, ``plain_s``, ``dagster_s``, ``ratio``, ``peak_rss_mb``,
``sql_rows_written``, ``bytes_per_score``, and how they were measured).

Run: ``python bench/bench_scoring.py [--animals 1000 10000] [--herd-db postgres] [--json] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from smx_assets.devtools.scratch_databases import create_database, drop_database

DAY = pd.Timedelta(days=1)
BLOCK = 1000  # animals simulated per block (seed and ids differ per block)
FMT = "%Y-%m-%d-%H:%M"
PG_ADMIN_URL = os.environ.get("SMX_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def prepare(root: Path, n_animals: int, influx_url: str, herd_url: str | None = None,
            shift_baselines: bool = False) -> dict[str, str]:
    """Simulate ``n_animals`` in blocks, load the last 2 days into InfluxDB, store baselines,
    train and register champion + challenger per use case. Returns the run's settings.

    ``herd_url``: the herd DB (default a SQLite file in ``root``; ``--herd-db postgres`` gives a
    fresh database on the local PostgreSQL).
    ``shift_baselines``: blocks after the first reuse the first block's stored baselines with
    their ids shifted (13 s of ``compute_baselines`` per block saved at 100,000 animals); the
    scoring work is the same, only those animals' baseline values are not their own."""
    from smx_assets.domain import model_registry
    from smx_assets.domain.features import attach_labels, compute_features
    from smx_assets.domain.features.baselines import compute_baselines
    from smx_assets.domain.features.pipeline import LOOKBACK
    from smx_assets.domain.features.profile import records_from_tables
    from smx_assets.domain.features.storage import BASELINES, FeatureFiles
    from smx_assets.domain.herd_db_migrate import upgrade_herd_db
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.simulator import SimConfig, simulate
    from smx_assets.domain.simulator.loader import write_herd
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.use_cases.catalog import all_use_cases
    from smx_assets.domain.use_cases.training import fit_model

    herd_url = herd_url or f"sqlite:///{root / 'herd.db'}"
    upgrade_herd_db(herd_url)
    engine = make_engine(herd_url)
    store = open_sensor_store(influx_url)
    store.ensure_schema()
    files = FeatureFiles(str(root / "features"))
    start = pd.Timestamp("2026-10-01", tz="UTC")
    day = start + 10 * DAY  # scoring day: 10 days of history before it
    bucket = day + pd.Timedelta(hours=13)
    baselines, train_frames = [], []
    t0 = time.perf_counter()
    for b in range((n_animals + BLOCK - 1) // BLOCK):
        n = min(BLOCK, n_animals - b * BLOCK)
        cfg = SimConfig(n_animals=n, days=11, seed=100 + b, start=start.date(), n_farms=2,
                        first_farm_id=1 + 2 * b, first_animal_id=1 + b * BLOCK, first_sensor_id=1 + 4 * b)
        herd = simulate(cfg)
        write_herd(herd, engine)
        bolus = herd.bolus.drop(columns=["received_at"])
        bolus = bolus[(bolus["temp_c"].between(28, 44)) & bolus["activity"].ge(0)].drop_duplicates(["animal_id", "ts"])
        if b == 0 or not shift_baselines:
            first_baselines = compute_baselines(bolus[bolus["ts"] < day], day)
            baselines.append(first_baselines)
        else:  # the first block's baselines, ids shifted: same rows and cost, values not the animals' own
            baselines.append(first_baselines.assign(animal_id=first_baselines["animal_id"] + b * BLOCK))
        recent = bolus[bolus["ts"] >= day - LOOKBACK - DAY]
        store.write_bolus(recent)
        clim = herd.climate.drop(columns=["received_at"])
        store.write_climate(clim[clim["ts"] >= day - LOOKBACK - DAY].drop_duplicates(["sensor_id", "ts"]))
        if b == 0:  # training data for the models: the previous day of the first block
            records = records_from_tables(herd.tables())
            feats = compute_features(bolus, clim, records, None, (day - DAY, day))
            train_frames.append((attach_labels(feats, records), records))
        print(f"  block {b + 1}: {n} animals simulated and loaded ({time.perf_counter() - t0:.0f} s)", flush=True)
    files.write(pd.concat(baselines, ignore_index=True), BASELINES, day)

    mlflow_uri = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_uri
    os.environ["SMX_HOME"] = str(root)  # the experiments' artefacts beside their store, not in ./.smx
    model_registry.configure(mlflow_uri)
    frame, records = train_frames[0]
    for uc in all_use_cases():
        for alias, seed in (("champion", 0), ("challenger", 1)):
            try:
                fit = fit_model(uc, frame, records, seed=seed)
                with model_registry.training_run(uc.experiment_name, run_name=f"bench-{alias}") as run:
                    model_registry.log_sklearn_model(fit.model, frame[list(uc.feature_columns)].astype("float64"))
            except ValueError:  # no positives in one simulated day (e.g. calving): the rule stands in
                with model_registry.training_run(uc.experiment_name, run_name=f"bench-{alias}-rule") as run:
                    model_registry.log_rule_model(uc.rule_baseline, frame)
            version = model_registry.register(run.info.run_id, uc.model_name)
            model_registry.set_alias(uc.model_name, alias, version)
    engine.dispose()
    store.close()
    return {"SMX_HOME": str(root), "SMX_HERD_DB_URL": herd_url, "SMX_SENSOR_STORE_URL": influx_url,
            "MLFLOW_TRACKING_URI": mlflow_uri, "SMX_FEATURES_PATH": str(root / "features"),
            "BENCH_PARTITION": bucket.strftime(FMT), "DAGSTER_HOME": str(root / "dagster_home")}


def _count_herd_db_writes() -> dict[str, int]:
    """Count the rows each INSERT/UPDATE/DELETE on the herd DB touches, in this process (Dagster's
    own instance storage is another database and is not counted)."""
    import sqlalchemy as sa

    herd = sa.engine.make_url(os.environ["SMX_HERD_DB_URL"])
    counts = {"rows": 0, "statements": 0}

    def after(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        url = conn.engine.url
        if (url.get_backend_name(), url.database) != (herd.get_backend_name(), herd.database):
            return
        if statement.lstrip()[:6].upper() not in ("INSERT", "UPDATE", "DELETE"):
            return
        n = cursor.rowcount
        if n is None or n < 0 or (n == 0 and "RETURNING" in statement.upper()):  # unknown until fetched
            n = len(parameters) if executemany else 1
        counts["rows"] += int(n)
        counts["statements"] += 1

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)
    return counts


def run_one(mode: str) -> None:
    """Executed in a fresh process: one scoring run, printing a JSON line of figures."""
    t_start = time.perf_counter()
    partition = os.environ["BENCH_PARTITION"]
    sql = _count_herd_db_writes()
    if mode == "domain":
        from smx_assets import settings
        from smx_assets.domain.features.profile import load_herd_records
        from smx_assets.domain.features.storage import FeatureFiles
        from smx_assets.domain.herd_db_migrate import require_current_schema
        from smx_assets.domain.model_registry import configure
        from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, prefetch_bucket_window, score_window
        from smx_assets.domain.sensor_store.factory import open_sensor_store
        from smx_assets.domain.sql_engine import make_engine
        from smx_assets.domain.use_cases.catalog import all_use_cases

        t_import = time.perf_counter() - t_start
        t0 = time.perf_counter()
        s = settings.Settings.from_env()
        client = configure(s.mlflow_tracking_uri)
        engine = make_engine(s.herd_db_url)
        require_current_schema(engine)  # what the herd DB resource does (the bench migrated it)
        store = open_sensor_store(s.sensor_store_url)
        store.ensure_schema()
        t1 = time.perf_counter()
        bucket = pd.to_datetime(partition, format=FMT, utc=True)
        with prefetch_bucket_window(store, bucket, bucket + pd.Timedelta(minutes=10)):  # as the asset does
            model_sets = load_model_sets(all_use_cases(), client=client)
            load_models = time.perf_counter() - t1
            result = score_window(engine=engine, store=store, files=FeatureFiles(s.features_path),
                                  records=load_herd_records(engine), model_sets=model_sets, start=bucket,
                                  end=bucket + pd.Timedelta(minutes=10),
                                  lineage=ScoringLineage(settings.code_version(), partition, None),
                                  chunk_cells=s.scoring.chunk_cells, processes=s.scoring.processes)
        seconds = time.perf_counter() - t0
        extra = {"animals": result.n_animals, "predictions": result.n_predictions,
                 "score_bytes_written": result.score_bytes_written,
                 "stages": {"setup": round(t1 - t0, 3), "load_models": round(load_models, 3), **result.stage_seconds}}
    else:
        import dagster as dg

        from smx_assets.definitions import defs

        t_import = time.perf_counter() - t_start
        t0 = time.perf_counter()
        instance = dg.DagsterInstance.get()
        t_instance = time.perf_counter() - t0
        job = defs.resolve_job_def("scoring_job")
        res = job.execute_in_process(instance=instance, partition_key=partition)
        seconds = time.perf_counter() - t0
        meta = res.asset_materializations_for_node("scores")[0].metadata
        body = meta["run_seconds"].value
        extra = {"animals": meta["animals_scored"].value, "predictions": meta["predictions_written"].value,
                 "score_bytes_written": meta["score_bytes_written"].value,
                 "stages": {"instance": round(t_instance, 3),
                            "dagster_other": round(seconds - t_instance - body, 3),
                            **meta["stage_seconds"].value}}
    peak_mb = _peak_rss_mb()
    ru = resource.getrusage(resource.RUSAGE_SELF)  # the whole process (imports included), not the DB servers
    extra["stages"]["process_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 2)
    print("RESULT " + json.dumps({"mode": mode, "seconds": round(seconds, 3), "import_seconds": round(t_import, 3),
                                  "peak_rss_mb": round(peak_mb, 1), "sql_rows_written": sql["rows"],
                                  "sql_statements": sql["statements"], **extra}), flush=True)


def _peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries it over fork+exec, so a child of a
    big parent reports the parent's size (every run showed the preparing process's 839 MB)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(mode: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--run-one", mode], env={**os.environ, **env},
                         capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{mode} run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def reset_bucket(env: dict[str, str]) -> None:
    """Remove the benchmarked bucket's score file and alerts, so every measured run is the
    bucket's first scoring, as a ten-minute run is; ``--rescore`` keeps them and measures a
    re-score (each run replaces the previous run's file)."""
    import sqlalchemy as sa

    from smx_assets.domain.score_store import ScoreFiles
    from smx_assets.domain.sql_engine import make_engine

    bucket = pd.to_datetime(env["BENCH_PARTITION"], format=FMT, utc=True)
    path = ScoreFiles(env["SMX_FEATURES_PATH"]).bucket_path(bucket)
    Path(path).unlink(missing_ok=True)
    engine = make_engine(env["SMX_HERD_DB_URL"])
    lo = bucket.tz_localize(None).to_pydatetime()
    window = {"lo": lo, "hi": (bucket + pd.Timedelta(minutes=10)).tz_localize(None).to_pydatetime()}
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM alerts WHERE bucket_start >= :lo AND bucket_start < :hi"), window)
    engine.dispose()


def bytes_per_score(env: dict[str, str], buckets: int = 6) -> dict:
    """Score ``buckets`` buckets up to the benchmarked one in one ranged run, compact their day
    with the store's own compaction and divide the day's bytes at rest by its scores."""
    from smx_assets import settings
    from smx_assets.domain.features.profile import load_herd_records
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.model_registry import configure
    from smx_assets.domain.score_store import ScoreFiles
    from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, score_window
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.use_cases.catalog import all_use_cases

    os.environ.update(env)
    s = settings.Settings.from_env()
    last = pd.to_datetime(env["BENCH_PARTITION"], format=FMT, utc=True)
    start, end = last - (buckets - 1) * pd.Timedelta(minutes=10), last + pd.Timedelta(minutes=10)
    engine = make_engine(s.herd_db_url)
    store = open_sensor_store(s.sensor_store_url)
    t0 = time.perf_counter()
    result = score_window(engine=engine, store=store, files=FeatureFiles(s.features_path),
                          records=load_herd_records(engine),
                          model_sets=load_model_sets(all_use_cases(), client=configure(s.mlflow_tracking_uri)),
                          start=start, end=end, lineage=ScoringLineage(settings.code_version(), "bench-bytes", None),
                          write_alerts=False, chunk_cells=s.scoring.chunk_cells)
    scored_s = time.perf_counter() - t0
    files = ScoreFiles(s.features_path)
    day = last.normalize()
    loose = files.bytes_at_rest([day])
    t0 = time.perf_counter()
    report = files.compact_day(day)
    compact_s = time.perf_counter() - t0
    at_rest = files.bytes_at_rest([day])
    store.close()
    engine.dispose()
    return {"buckets": buckets, "scores": report.scores, "bytes_at_rest": at_rest, "loose_bytes": loose,
            "bytes_per_score": round(at_rest / max(report.scores, 1), 3),
            "loose_bytes_per_score": round(loose / max(report.scores, 1), 3),
            "ranged_run_s": round(scored_s, 2), "compact_s": round(compact_s, 2), "predictions": result.n_predictions}


def warm_cache(env: dict[str, str], cache_dir: Path) -> None:
    """Fill a read cache as the previous ten-minute run would have: the window of the bucket
    before the benchmarked one. The benchmarked run then fetches the new bucket only."""
    from smx_assets.domain.features.pipeline import LOOKBACK
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sensor_store.read_cache import CLOCK_SLACK_S

    time.sleep(CLOCK_SLACK_S + 1)  # history written more than the cache's clock slack ago
    bucket = pd.to_datetime(env["BENCH_PARTITION"], format=FMT, utc=True)
    store = open_sensor_store(f"{env['SMX_SENSOR_STORE_URL']}?read_cache={cache_dir}")
    t0 = time.perf_counter()
    store.read_bolus(bucket - pd.Timedelta(minutes=10) - LOOKBACK, bucket)
    print(f"  read cache filled in {time.perf_counter() - t0:.1f} s "
          f"({store.read_cache.last_stats if store.read_cache else {}})", flush=True)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=2, help="runs per mode (the best is reported)")
    parser.add_argument("--no-cache-runs", action="store_true",
                        help="also time each mode once without the read cache (full 26 h read)")
    parser.add_argument("--keep", help="keep the prepared stores in this folder (and the PostgreSQL database)")
    parser.add_argument("--reuse", action="store_true", help="with --keep: run on the stores an earlier run kept")
    parser.add_argument("--prepare-only", action="store_true", help="with --keep: prepare the stores, measure nothing")
    parser.add_argument("--herd-db", choices=["sqlite", "postgres"], default="sqlite",
                        help="herd DB of the runs: a SQLite file, or a fresh database on the local PostgreSQL "
                             f"({PG_ADMIN_URL}, SMX_BENCH_PG_URL to change)")
    parser.add_argument("--exact-baselines-up-to", type=int, default=10_000,
                        help="herds larger than this reuse the first block's baselines (ids shifted) to save "
                             "preparation time; the runs measured do the same work")
    parser.add_argument("--rescore", action="store_true",
                        help="keep the previous run's predictions: measure a re-score (a replace) instead of "
                             "the bucket's first scoring")
    parser.add_argument("--json", action="store_true",
                        help="print, as the last line, one JSON object of the last herd size's figures")
    parser.add_argument("--run-one", choices=["domain", "dagster"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        run_one(args.run_one)
        return

    from smx_assets.devtools.influx_server import InfluxServer

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_scoring_"))
    print(f"load average at start: {os.getloadavg()}")
    rows = []
    sizes: dict[int, dict] = {}
    for n in args.animals:
        root = base / f"herd_{n}"
        root.mkdir(parents=True, exist_ok=True)
        (root / "dagster_home").mkdir(exist_ok=True)
        (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        server = InfluxServer.start(root / "influx")
        pg_name = f"bench_scoring_{n}" if args.keep else f"bench_scoring_{n}_{os.getpid()}"
        saved = root / "env.json"
        try:
            if args.reuse and saved.exists():  # the stores prepared by an earlier --keep run
                env = json.loads(saved.read_text())
                env["SMX_SENSOR_STORE_URL"] = server.url  # the restarted server's port
                print(f"reusing the {n}-animal stores in {root}", flush=True)
            else:
                print(f"preparing {n} animals ...", flush=True)
                t0 = time.perf_counter()
                env = prepare(root, n, server.url, create_database(PG_ADMIN_URL, pg_name) if args.herd_db == "postgres" else None,
                              shift_baselines=n > args.exact_baselines_up_to)
                print(f"  prepared in {time.perf_counter() - t0:.0f} s", flush=True)
                if args.keep:
                    saved.write_text(json.dumps(env))
                if args.prepare_only:
                    continue
            warm, run_cache = root / "read_cache_warm", root / "read_cache_run"
            warm_cache(env, warm)
            variants = [("cache", args.repeat)] + ([("no cache", 1)] if args.no_cache_runs else [])
            for variant, repeat in variants:
                for mode in ("domain", "dagster"):
                    results = []
                    for _ in range(repeat):
                        run_env = dict(env)
                        if variant == "cache":  # every run starts from the previous run's cache
                            shutil.rmtree(run_cache, ignore_errors=True)
                            shutil.copytree(warm, run_cache)
                            run_env["SMX_SENSOR_STORE_URL"] = f"{env['SMX_SENSOR_STORE_URL']}?read_cache={run_cache}"
                        if not args.rescore:
                            reset_bucket(env)
                        results.append(measure(mode, run_env))
                    best = min(results, key=lambda r: r["seconds"])
                    print(f"  {variant:8s} {mode:7s}: {best['seconds']:.2f} s (runs: {[r['seconds'] for r in results]}), "
                          f"imports {best['import_seconds']:.1f} s, peak RSS {best['peak_rss_mb']:.0f} MB, "
                          f"{best['animals']} animals, {best['predictions']} predictions, stages {best['stages']}, "
                          f"load {os.getloadavg()[0]:.2f}", flush=True)
                    rows.append((n, variant, mode, best))
            if not args.prepare_only:
                sizes[n] = bytes_per_score(env)
                print(f"  bytes per stored score after compaction: {sizes[n]}", flush=True)
        finally:
            server.stop()
            if args.herd_db == "postgres" and not args.keep:
                drop_database(PG_ADMIN_URL, pg_name)
    print(f"\nload average at end: {os.getloadavg()}")
    print(f"{'animals':>8} {'variant':>9} {'domain s':>9} {'dagster s':>10} {'ratio':>6} {'peak MB':>8} "
          f"{'SQL rows':>9} {'B/score':>8}")
    summary = None
    for n in args.animals:
        for variant in ("cache", "no cache"):
            found = {mode: r for m, v, mode, r in rows if m == n and v == variant}
            if len(found) < 2:
                continue
            d, g = found["domain"], found["dagster"]
            bps = sizes.get(n, {}).get("bytes_per_score", float("nan"))
            print(f"{n:>8} {variant:>9} {d['seconds']:>9.2f} {g['seconds']:>10.2f} "
                  f"{g['seconds'] / d['seconds']:>6.2f} {max(d['peak_rss_mb'], g['peak_rss_mb']):>8.0f} "
                  f"{g['sql_rows_written']:>9} {bps:>8.2f}")
            if variant == "cache":
                summary = {"animals": n, "plain_s": d["seconds"], "dagster_s": g["seconds"],
                           "ratio": round(g["seconds"] / d["seconds"], 3),
                           "peak_rss_mb": max(d["peak_rss_mb"], g["peak_rss_mb"]),
                           "sql_rows_written": g["sql_rows_written"], "bytes_per_score": bps,
                           "herd_db": args.herd_db, "repeat": args.repeat, "scores_per_run": g["predictions"],
                           "score_bytes_written": g.get("score_bytes_written"),
                           "stages": g["stages"], "bytes_per_score_measured": sizes.get(n),
                           "how": "best of --repeat runs per mode, warm read cache, each a fresh process; "
                                  "sql_rows_written: rows the Dagster run's INSERT/UPDATE/DELETE touched in the herd "
                                  "DB; bytes_per_score: 6 buckets scored, their day compacted, bytes at rest / "
                                  "scores held"}
    if args.json and summary is not None:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
