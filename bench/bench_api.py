"""Benchmark ``smx serve`` (issue 25): concurrent clients on loopback against a 10,000-animal herd.

Prepares real stores once (``bench_scoring.prepare``: a real InfluxDB started here, a SQLite or
PostgreSQL herd DB, the day's stored baselines, an ML champion and challenger per use case in a
SQLite MLflow store), then:

* scores the benchmarked buckets with the batch engine (``score_window``: real scores, lineage
  and alerts), so ``POST /v1/score`` is asked for buckets the batch run scored — and checked
  against the stored scores;
* gives the herd 7 days of score history before them (``GET /v1/scores`` reads a cow's 7 days):
  synthetic scores (the readings of 7 days of 10,000 animals are not simulated), written through
  the score store's own writer and daily compaction, with one lineage row per day and model, so
  the read path is the production one (7 compacted day files of 8.6 M scores each);
* the alerts of those 7 days: the real run's plus synthetic ones at the rate of the simulated
  herds (about 500 a day), inserted with the engine's ``insert_alerts``.

Then, for 1 and 2 uvicorn workers, ``smx serve`` runs in its own process group and, for each of
``--clients`` (1, 2 and 4), that many threads send requests for ``--seconds`` seconds, round-robin over the endpoints: ``POST
/v1/score`` (a random cow, one of the scored buckets), ``GET /v1/scores`` (a random cow, 7 days,
heat), ``GET /v1/alerts`` (a random day of the 7, first page of 100). Printed per endpoint:
requests/s, p50 and p99 latency, errors (anything but 200). Targets (issue 25, this 2-core
machine): ``POST /v1/score`` p99 <= 100 ms, ``GET /v1/scores`` and ``GET /v1/alerts`` p99 <= 50 ms,
no errors. The client threads share the machine's two cores with the server (the load average is
printed).

Run: ``python bench/bench_api.py [--animals 10000] [--seconds 30] [--clients 1 2 4] [--workers 1 2] [--keep DIR --reuse]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import FMT, PG_ADMIN_URL, prepare  # noqa: E402

from smx_assets.devtools.scratch_databases import create_database, drop_database  # noqa: E402

TOKEN = "bench-token-" + "7" * 24
HISTORY_DAYS = 7
SCORED_BUCKETS = 3
ALERTS_PER_DAY = 500
ENDPOINTS = ("POST /v1/score", "GET /v1/scores", "GET /v1/alerts")


def score_buckets(env: dict[str, str]) -> list[pd.Timestamp]:
    """The batch engine scores the last ``SCORED_BUCKETS`` buckets up to the prepared one."""
    from smx_assets.domain import model_registry
    from smx_assets.domain.features.profile import load_herd_records
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, score_window
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.use_cases.catalog import all_use_cases

    bucket = pd.to_datetime(env["BENCH_PARTITION"], format=FMT, utc=True)
    start = bucket - (SCORED_BUCKETS - 1) * pd.Timedelta(minutes=10)
    engine = make_engine(env["SMX_HERD_DB_URL"])
    store = open_sensor_store(env["SMX_SENSOR_STORE_URL"])
    client = model_registry.configure(env["MLFLOW_TRACKING_URI"])
    t0 = time.perf_counter()
    result = score_window(engine=engine, store=store, files=FeatureFiles(env["SMX_FEATURES_PATH"]),
                          records=load_herd_records(engine), model_sets=load_model_sets(all_use_cases(), client=client),
                          start=start, end=bucket + pd.Timedelta(minutes=10),
                          lineage=ScoringLineage("bench", "bench_api", None))
    print(f"  scored {result.n_buckets} buckets of {len(load_herd_records(engine).animals)} animals: "
          f"{result.n_predictions} scores, {sum(result.alerts_new.values())} alerts ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    store.close()
    engine.dispose()
    return list(pd.date_range(start, bucket, freq="10min"))


def write_history(env: dict[str, str], first_scored: pd.Timestamp) -> None:
    """7 days of synthetic scores before ``first_scored`` (writer + compaction) and their alerts."""
    import sqlalchemy as sa

    from smx_assets.domain.score_store.files import ScoreFiles, bucket_table
    from smx_assets.domain.score_store.lineage import RunLineage, ScoredModel, record_lineage
    from smx_assets.domain.scoring.outputs import insert_alerts
    from smx_assets.domain.sql_engine import make_engine

    engine = make_engine(env["SMX_HERD_DB_URL"])
    with engine.connect() as conn:
        ids = np.array([r[0] for r in conn.execute(sa.text("SELECT id FROM animals ORDER BY id"))], dtype="int64")
        models = conn.execute(sa.text("SELECT DISTINCT use_case, shadow, model_name, model_version, model_alias, "
                                      "mlflow_run_id FROM scoring_lineage")).all()
    files = ScoreFiles(env["SMX_FEATURES_PATH"])
    rng = np.random.default_rng(25)
    end = first_scored.normalize()
    t0 = time.perf_counter()
    alerts = []
    for d in range(HISTORY_DAYS, 0, -1):
        day = end - pd.Timedelta(days=d)
        lineage = record_lineage(engine, RunLineage(
            code_version="bench", partition_key=f"{day:%Y-%m-%d}", dagster_run_id=None, window_start=day,
            window_end=day + pd.Timedelta(days=1), shard="", feature_ref=None, scored_at=day + pd.Timedelta(days=1)),
            [ScoredModel(uc, bool(shadow), name, str(version), alias, run) for uc, shadow, name, version, alias, run in models])
        lids = np.array(sorted(lineage.values()), dtype="int64")
        for bucket in pd.date_range(day, day + pd.Timedelta(days=1), freq="10min", inclusive="left"):
            n = len(ids) * len(lids)
            files.write_bucket(bucket, bucket_table(np.repeat(lids, len(ids)), np.tile(ids, len(lids)),
                                                    rng.beta(0.5, 8, n)))
        report = files.compact_day(day)
        champions = [uc for (uc, shadow) in lineage if not shadow]
        for k in range(ALERTS_PER_DAY):
            uc = champions[k % len(champions)]
            name, version = next((m[2], m[3]) for m in models if m[0] == uc and not m[1])
            alerts.append({"use_case": uc, "animal_id": int(rng.choice(ids)),
                           "bucket_start": day + pd.Timedelta(minutes=10 * int(rng.integers(0, 144))),
                           "score": float(rng.uniform(0.6, 1.0)), "threshold": 0.5, "model_name": name,
                           "model_version": str(version), "mlflow_run_id": None, "code_version": "bench",
                           "partition_key": f"{day:%Y-%m-%d}", "dagster_run_id": None, "feature_ref": None,
                           "features": {}, "created_at": day + pd.Timedelta(days=1)})
        print(f"  history {day:%Y-%m-%d}: {report.scores} scores compacted into {report.bytes / 1e6:.1f} MB "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"  {insert_alerts(engine, pd.DataFrame(alerts))} synthetic alerts", flush=True)
    engine.dispose()


def requests_plan(env: dict[str, str], buckets: list[pd.Timestamp]) -> dict[str, list]:
    """What the clients ask for: the cows, the scored buckets, the days, and stored scores to check."""
    from smx_assets.api.stores import cow_index
    from smx_assets.domain.score_store import ScoreFiles, ScoreStore
    from smx_assets.domain.sql_engine import make_engine

    engine = make_engine(env["SMX_HERD_DB_URL"])
    cows = cow_index(engine)
    stored = ScoreStore(engine, ScoreFiles(env["SMX_FEATURES_PATH"])).read(
        buckets[0], buckets[-1] + pd.Timedelta(minutes=10), use_case="heat", shadow=False)
    engine.dispose()
    by_animal = {a: k for k, a in cows.items()}
    stored = stored[stored["animal_id"].isin(list(by_animal))]
    check = stored.sample(20, random_state=25)
    scored = sorted({by_animal[int(a)] for a in stored["animal_id"]})  # cows the batch run scored (a bolus, not gone)
    return {"cows": scored, "buckets": buckets,
            "checks": [(by_animal[int(r.animal_id)], r.bucket_start, float(r.score)) for r in check.itertuples()]}


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return 599, b""


def one_request(client: Client, endpoint: str, plan: dict, rng: random.Random, end: pd.Timestamp) -> tuple[int, bytes]:
    from urllib.parse import urlencode

    farm, cow = rng.choice(plan["cows"])
    if endpoint == "POST /v1/score":
        bucket = rng.choice(plan["buckets"])
        return client.call("POST", "/v1/score", {"farm": farm, "cow_number": cow, "use_case": "heat",
                                                 "at": (bucket + pd.Timedelta(minutes=5)).isoformat()})
    if endpoint == "GET /v1/scores":
        q = urlencode({"farm": farm, "cow_number": cow, "use_case": "heat",
                       "from": (end - pd.Timedelta(days=HISTORY_DAYS)).isoformat(), "to": end.isoformat()})
        return client.call("GET", f"/v1/scores?{q}")
    day = end - pd.Timedelta(days=rng.randint(1, HISTORY_DAYS))
    q = urlencode({"from": day.isoformat(), "to": (day + pd.Timedelta(days=1)).isoformat(), "limit": 100})
    return client.call("GET", f"/v1/alerts?{q}")


def load(port: int, plan: dict, seconds: float, clients: int) -> dict[str, dict]:
    end = plan["buckets"][0].normalize()
    results: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
    errors: dict[str, list[str]] = {e: [] for e in ENDPOINTS}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(k: int) -> None:
        client, rng = Client(port), random.Random(k)
        mine: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
        bad: dict[str, list[str]] = {e: [] for e in ENDPOINTS}
        i = k
        while time.monotonic() < stop:
            endpoint = ENDPOINTS[i % len(ENDPOINTS)]
            i += 1
            t0 = time.perf_counter()
            status, body = one_request(client, endpoint, plan, rng, end)
            ms = (time.perf_counter() - t0) * 1000
            if status == 200:
                mine[endpoint].append(ms)
            else:
                bad[endpoint].append(f"{status} {body[:200]!r}")
        with lock:
            for e in ENDPOINTS:
                results[e] += mine[e]
                errors[e] += bad[e]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    out = {}
    for e in ENDPOINTS:
        lat = np.array(results[e]) if results[e] else np.array([np.nan])
        out[e] = {"rps": len(results[e]) / wall, "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
                  "n": len(results[e]), "errors": len(errors[e]), "first_error": errors[e][0] if errors[e] else ""}
    return out


def serve(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "smx_assets.cli", "serve", "--port", str(port), "--workers",
                             str(workers)], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError(f"smx serve not ready: {log.read_text()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4],
                        help="concurrent client threads (one run per number and worker count)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--herd-db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--keep", help="keep the prepared stores in this folder")
    parser.add_argument("--reuse", action="store_true", help="with --keep: run on the stores an earlier run kept")
    args = parser.parse_args()

    from smx_assets.devtools.influx_server import InfluxServer

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_api_"))
    root = base / f"herd_{args.animals}"
    root.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    server = InfluxServer.start(root / "influx")
    pg_name = f"bench_api_{args.animals}" if args.keep else f"bench_api_{os.getpid()}"
    saved = root / "env.json"
    try:
        if args.reuse and saved.exists():
            env, buckets = json.loads(saved.read_text()), None
            env["SMX_SENSOR_STORE_URL"] = server.url
            buckets = [pd.Timestamp(b) for b in env.pop("BENCH_BUCKETS").split(",")]
            print(f"reusing the {args.animals}-animal stores in {root}", flush=True)
        else:
            print(f"preparing {args.animals} animals ...", flush=True)
            t0 = time.perf_counter()
            herd_url = create_database(PG_ADMIN_URL, pg_name) if args.herd_db == "postgres" else None
            env = prepare(root, args.animals, server.url, herd_url)
            buckets = score_buckets(env)
            write_history(env, buckets[0])
            print(f"  prepared in {time.perf_counter() - t0:.0f} s", flush=True)
            if args.keep:
                saved.write_text(json.dumps({**env, "BENCH_BUCKETS": ",".join(b.isoformat() for b in buckets)}))
        plan = requests_plan(env, buckets)
        run_env = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_"))}
        run_env.update({k: v for k, v in env.items() if k.startswith(("SMX_", "MLFLOW_"))})
        run_env.update({"SMX_API_TOKEN": TOKEN, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                        "SMX_PARTITIONS_START": os.environ.get("SMX_PARTITIONS_START", "2026-09-01")})
        rows = []
        for workers in args.workers:
            proc, port = serve(run_env, workers, root / f"serve_{workers}.log")
            try:
                client = Client(port)
                same = 0
                for (farm, cow), bucket, score in plan["checks"]:
                    status, body = client.call("POST", "/v1/score", {"farm": farm, "cow_number": cow, "use_case": "heat",
                                                                     "at": bucket.isoformat()})
                    same += status == 200 and json.loads(body)["score"] == score
                print(f"{workers} worker(s): POST /v1/score equals the stored score for {same} of "
                      f"{len(plan['checks'])} (cow, bucket) pairs", flush=True)
                for clients in args.clients:
                    load(port, plan, 3.0, clients)  # warm-up: caches, connections, first model calls
                    figures = load(port, plan, args.seconds, clients)
                    rows.append((workers, clients, figures))
                    print(f"  {clients} client(s):", flush=True)
                    for e in ENDPOINTS:
                        f = figures[e]
                        print(f"  {e:16s} {f['rps']:7.1f} req/s  p50 {f['p50']:6.1f} ms  p99 {f['p99']:6.1f} ms  "
                              f"{f['n']} ok, {f['errors']} errors {f['first_error']}", flush=True)
                print(f"  load average {os.getloadavg()}", flush=True)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
        print(f"\n{args.animals} animals, {args.seconds:.0f} s per run, herd DB {args.herd_db}, sensor store InfluxDB; "
              "targets p99: POST /v1/score <= 100 ms, GET /v1/scores and GET /v1/alerts <= 50 ms, 0 errors")
        print(f"{'workers':>7} {'clients':>7} {'endpoint':16s} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
        for workers, clients, figures in rows:
            for e in ENDPOINTS:
                f = figures[e]
                print(f"{workers:>7} {clients:>7} {e:16s} {f['rps']:7.1f} {f['p50']:7.1f} {f['p99']:7.1f} {f['errors']:>6}")
        print(f"load average at end: {os.getloadavg()}")
    finally:
        server.stop()
        if args.herd_db == "postgres" and not args.keep:
            drop_database(PG_ADMIN_URL, pg_name)


if __name__ == "__main__":
    main()
