"""Benchmark one ten-minute bucket scored as S shard runs through the real run queue.

Starts the local production topology (``smx_assets.devtools.topology``: PostgreSQL-backed
Dagster, gRPC code server, webserver, daemon with the queued run coordinator, InfluxDB), prepares
N animals into its stores with ``bench/bench_scoring.py``'s ``prepare()`` (herd DB in the
topology's PostgreSQL, readings in its InfluxDB, baselines in its feature folder, ML champion and
challenger per use case in an MLflow SQLite store every run worker reads), stops the scoring
sensor (real time must not launch runs during the measurement), fills the shared read cache as
the previous bucket's runs would have left it, then for each shard count S submits the S runs of
one bucket at once, exactly as the scoring sensor does with ``SMX_SCORING_SHARDS=S`` (run config
``shard``/``shards``, tags ``smx/shard`` and ``smx/scoring_key``).

Prints, per S: wall time from the launch (the moment the sensor would submit after the bucket's
close + grace) to the last shard's SUCCESS, and per shard: queued -> started, the run's time,
animals, scores, bytes written to the score store, herd DB rows left (lineage + alerts) and the
run worker's peak RSS (``peak_rss_mb`` of the materialisation).

Run: ``python bench/bench_sharded_scoring.py --animals 4000 --shards 1 4``;
``--keep DIR --prepare-only`` to prepare once (100,000 animals take ~50 min), then
``--keep DIR --reuse --shards 1 4 8`` to measure on the kept stores (PostgreSQL databases
``smx_*_bsh<N>`` are kept with --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import prepare, warm_cache  # noqa: E402

from smx_assets.defs.scoring.sensors import run_request  # noqa: E402
from smx_assets.devtools.topology import LOCATION_NAME, Topology, TopologyConfig, graphql  # noqa: E402
from smx_assets.domain.scoring.planning import BucketRequest, shard_requests  # noqa: E402
from smx_assets.domain.time_grid import PARTITION_KEY_FORMAT  # noqa: E402

PG_ADMIN_URL = os.environ.get("SMX_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
SENSOR_ID = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
  __typename ... on Sensor { id sensorState { status } } } }"""
STOP = """mutation($id: String) { stopSensor(id: $id) { __typename } }"""


class BenchConfig(TopologyConfig):
    """The topology, its run workers reading models from the bench's MLflow SQLite store."""

    def env(self) -> dict[str, str]:
        env = super().env()
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{self.state_dir / 'mlflow.db'}"
        env["SMX_HOME"] = str(self.state_dir)
        return env


def stop_scoring_sensor(port: int) -> None:
    selector = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__",
                "sensorName": "scoring_sensor"}
    found = graphql(port, SENSOR_ID, {"s": selector})["sensorOrError"]
    answer = graphql(port, STOP, {"id": found["id"]})
    print(f"  scoring_sensor stopped ({answer['stopSensor']['__typename']})", flush=True)


def materialisation(engine: sa.Engine, run_id: str) -> dict[str, object]:
    import dagster as dg

    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT event FROM event_logs WHERE run_id = :r "
                                      "AND dagster_event_type = 'ASSET_MATERIALIZATION'"), {"r": run_id}).scalars().all()
    if not events:
        return {}
    meta = dg.deserialize_value(events[0]).dagster_event.event_specific_data.materialization.metadata
    return {k: v.value for k, v in meta.items() if k in ("peak_rss_mb", "run_seconds", "animals_scored",
                                                          "predictions_written", "stage_seconds",
                                                          "score_bytes_written")}


def herd_db_rows(herd_url: str, run_id: str) -> int:
    """Rows the run left in the herd DB: its scoring lineage rows and the alerts it raised (the
    scores themselves go to the score store)."""
    engine = sa.create_engine(herd_url)
    try:
        with engine.connect() as conn:
            return int(sum(conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE dagster_run_id = :r"),
                                        {"r": run_id}).scalar_one() for t in ("scoring_lineage", "alerts")))
    finally:
        engine.dispose()


def score_bucket(topo: Topology, engine: sa.Engine, bucket_key: str, shards: int, timeout_s: float,
                 herd_url: str) -> dict:
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=topo.config.ports["webserver"])
    t0 = time.time()
    ids: list[str] = []
    # The sensor's own requests for this bucket (tags, shard run config), submitted by hand.
    bucket = pd.Timestamp(pd.to_datetime(bucket_key, format=PARTITION_KEY_FORMAT), tz="UTC")
    for planned in shard_requests([BucketRequest(bucket, "bench", "bench")], shards):
        request = run_request(planned)
        ids.append(client.submit_job_execution(
            "scoring_job", repository_location_name=LOCATION_NAME, run_config=dict(request.run_config or {}),
            tags={"dagster/partition": bucket_key, **request.tags}))
    status = {r: "QUEUED" for r in ids}
    while time.time() - t0 < timeout_s and not all(s in TERMINAL for s in status.values()):
        for r in ids:
            if status[r] not in TERMINAL:
                status[r] = client.get_run_status(r).value
        time.sleep(0.5)
    with engine.connect() as conn:
        rows = {r.run_id: r for r in conn.execute(sa.text(
            "SELECT run_id, create_timestamp, start_time, end_time FROM runs WHERE run_id IN :ids")
            .bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids}).all()}
    runs = []
    for k, r in enumerate(ids):
        row = rows[r]
        created = row.create_timestamp.replace(tzinfo=None)
        created_epoch = pd.Timestamp(created, tz="UTC").timestamp()
        runs.append({"shard": k, "status": status[r], "queued_s": round((row.start_time or 0) - created_epoch, 1),
                     "run_s": round((row.end_time or 0) - (row.start_time or 0), 1),
                     "sql_rows": herd_db_rows(herd_url, r), **materialisation(engine, r)})
    ends = [rows[r].end_time for r in ids if rows[r].end_time]
    return {"shards": shards, "wall_s": round(max(ends) - t0, 1) if ends else None,
            "all_succeeded": all(s == "SUCCESS" for s in status.values()), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=4000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=1, help="measurements per shard count")
    parser.add_argument("--keep", help="keep the prepared stores (and the topology's PostgreSQL databases) here")
    parser.add_argument("--reuse", action="store_true", help="with --keep: measure on the stores an earlier run kept")
    parser.add_argument("--prepare-only", action="store_true", help="with --keep: prepare, measure nothing")
    parser.add_argument("--exact-baselines-up-to", type=int, default=10_000,
                        help="larger herds reuse the first block's baselines, ids shifted (as bench_scoring.py)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for one bucket's runs")
    args = parser.parse_args()
    n = args.animals
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_sharded_"))
    root = base / f"herd_{n}"
    suffix = f"_bsh{n}" if args.keep else f"_bsh{n}_{os.getpid()}"
    topo = Topology(BenchConfig(state_dir=root, pg_admin_url=PG_ADMIN_URL, db_suffix=suffix,
                                ports={"influxdb": 0, "mlflow": 0, "code_server": 0, "webserver": 0},
                                start_timeout_s=300))
    saved = root / "bench.json"
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        t0 = time.monotonic()
        topo.up()
        print(f"topology up in {time.monotonic() - t0:.0f} s ({root})", flush=True)
        env = topo.config.env()
        influx = f"influxdb://127.0.0.1:{topo.config.ports['influxdb']}/smx"
        if args.reuse and saved.exists():
            bucket_key = json.loads(saved.read_text())["BENCH_PARTITION"]
            print(f"reusing the {n}-animal stores in {root}", flush=True)
        else:
            print(f"preparing {n} animals ...", flush=True)
            t0 = time.monotonic()
            prepared = prepare(root, n, influx, env["SMX_HERD_DB_URL"], shift_baselines=n > args.exact_baselines_up_to)
            bucket_key = prepared["BENCH_PARTITION"]
            saved.write_text(json.dumps({"BENCH_PARTITION": bucket_key, "animals": n}))
            print(f"  prepared in {time.monotonic() - t0:.0f} s", flush=True)
        if args.prepare_only:
            return
        stop_scoring_sensor(topo.config.ports["webserver"])
        warm = root / "read_cache_warm"
        if not warm.exists():
            warm_cache({"SMX_SENSOR_STORE_URL": influx, "BENCH_PARTITION": bucket_key}, warm)
        run_cache = root / "influx_read_cache"  # the topology's shared read cache (env SMX_SENSOR_STORE_URL)
        engine = sa.create_engine(topo.config.db_url("dagster"))
        results = []
        for shards in args.shards:
            for _ in range(args.repeat):
                shutil.rmtree(run_cache, ignore_errors=True)
                shutil.copytree(warm, run_cache)  # as the previous bucket's runs left it
                res = score_bucket(topo, engine, bucket_key, shards, args.timeout, env["SMX_HERD_DB_URL"])
                results.append(res)
                print(f"  {shards} shard(s): launch -> last SUCCESS {res['wall_s']} s, all succeeded "
                      f"{res['all_succeeded']}, load {os.getloadavg()[0]:.2f}", flush=True)
                for r in res["runs"]:
                    print(f"    shard {r['shard']}: {r['status']}, queued->started {r['queued_s']} s, run {r['run_s']} s "
                          f"(scores body {r.get('run_seconds')} s), {r.get('animals_scored')} animals, "
                          f"{r.get('predictions_written')} scores, {r.get('score_bytes_written')} bytes to the score "
                          f"store, {r['sql_rows']} herd DB rows, peak RSS {r.get('peak_rss_mb')} MB", flush=True)
        engine.dispose()
        print(f"\n{'animals':>8} {'shards':>6} {'wall s':>7} {'max run s':>9} {'max RSS MB':>10} {'SQL rows':>8} "
              f"{'score MB':>8}")
        for res in results:
            runs = res["runs"]
            print(f"{n:>8} {res['shards']:>6} {res['wall_s']!s:>7} {max(r['run_s'] for r in runs):>9} "
                  f"{max((r.get('peak_rss_mb') or 0) for r in runs):>10} {sum(r['sql_rows'] for r in runs):>8} "
                  f"{sum((r.get('score_bytes_written') or 0) for r in runs) / 1e6:>8.2f}")
        print(f"load average at end: {os.getloadavg()}")
    finally:
        print(f"topology down: {topo.down()}", flush=True)
        if not args.keep:
            topo.drop_databases()
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
