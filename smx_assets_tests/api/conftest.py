"""A scored herd in real stores and the real server on it, one per module and store kind.

``embedded``: the embedded default (SQLite herd DB and sensor store under ``SMX_HOME``);
``pg_influx``: the herd DB on the machine's PostgreSQL, readings in the session's InfluxDB.
MLflow is a SQLite store with the use cases' rule baselines (the champions scoring falls back
to); the features folder holds the score store. A window of day 6 is scored by the batch
engine (``score_window``, what the ``scores`` asset runs) with one cow's readings of one bucket
held back, then delivered late (received after the scoring), as a farm's gateway does.
``smx serve`` runs in a subprocess on a free port with a token and a 2-second model TTL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

from smx_assets.domain import model_registry
from smx_assets.domain.features import compute_features
from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, score_window
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.use_cases.catalog import all_use_cases

START = pd.Timestamp("2026-09-01", tz="UTC")
DAY = pd.Timedelta(days=1)
N_ANIMALS = 60
WINDOW_START = START + 4 * DAY
WINDOW_END = WINDOW_START + 3 * DAY
LATE_ANIMAL = 7
LATE_BUCKET = WINDOW_START + pd.Timedelta(hours=50)
TOKEN = "test-token-" + uuid.uuid4().hex
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    kind: str
    root: Path
    env: dict[str, str]
    url: str
    log: Path
    herd_db_url: str
    sensor_url: str
    mlflow_uri: str
    features: str
    scored_at: pd.Timestamp
    process: subprocess.Popen

    def get(self, path: str, token: str | None = TOKEN, **params: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.url + path, params=params, headers=headers, timeout=60)

    def post(self, path: str, body: object, token: str | None = TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(self.url + path, json=body, headers=headers, timeout=60)

    def log_text(self) -> str:
        return self.log.read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str], log: Path, *args: str, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """``smx serve`` in a subprocess; returns once ``/health`` answers."""
    port = port or free_port()
    out = log.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "smx_assets.cli", "serve", "--port", str(port), *args],
                            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"smx serve exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"smx serve did not answer in 120 s: {log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def build_scored_herd(root: Path, herd_db_url: str, sensor_url: str) -> tuple[str, str, pd.Timestamp]:
    """Simulate, load, register the rule baselines, score the window; returns (mlflow uri,
    features path, the scoring's time). One cow's bucket arrives after the scoring."""
    sim = simulate(SimConfig(n_animals=N_ANIMALS, days=8, seed=5, start=START.date()))
    bolus = sim.bolus.drop(columns=["received_at"])
    bolus = bolus[bolus["temp_c"].between(28, 44) & bolus["activity"].ge(0)].drop_duplicates(["animal_id", "ts"])
    held = (bolus["ts"].dt.floor("10min") == LATE_BUCKET) & (bolus["animal_id"] == LATE_ANIMAL)
    assert held.any()
    bolus["received_at"] = bolus["ts"] + pd.Timedelta(minutes=3)
    store = open_sensor_store(sensor_url)
    store.ensure_schema()
    store.write_bolus(bolus[~held])
    store.write_climate(sim.climate.drop(columns=["received_at"]).drop_duplicates(["sensor_id", "ts"]))
    mlflow_uri = f"sqlite:///{root / 'mlflow.db'}"
    model_registry.configure(mlflow_uri)
    upgrade_herd_db(herd_db_url)
    engine = make_engine(herd_db_url)
    write_herd(sim, engine)
    records = load_herd_records(engine)
    frame = compute_features(bolus, sim.climate, records, None, (START + 5 * DAY, START + 5 * DAY + pd.Timedelta(hours=6)))
    for uc in all_use_cases():
        with model_registry.training_run(uc.experiment_name, run_name=f"{uc.name}-rule") as run:
            model_registry.log_rule_model(uc.rule_baseline, frame)
        model_registry.register(run.info.run_id, uc.rule_model_name)
    features = str(root / "features")
    client = model_registry.configure(mlflow_uri)
    result = score_window(engine=engine, store=store, files=FeatureFiles(features), records=records,
                          model_sets=load_model_sets(all_use_cases(), client=client), start=WINDOW_START,
                          end=WINDOW_END, lineage=ScoringLineage("test", "api", None))
    assert sum(result.alerts_new.values()) > 0, result.alerts_new
    scored_at = pd.Timestamp.now(tz="UTC")
    time.sleep(1.1)  # received_at has whole seconds: the late readings arrive strictly after the scoring
    late = bolus[held].drop(columns=["received_at"])  # received when written: after the scoring
    store.write_bolus(late)
    store.close()
    engine.dispose()
    return mlflow_uri, features, scored_at


def serve_herd(kind: str, root: Path, herd_db_url: str, sensor_url: str) -> Iterator[Served]:
    mlflow_uri, features, scored_at = build_scored_herd(root, herd_db_url, sensor_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_"))}
    env.update({
        "PYTHONPATH": str(REPO), "SMX_HOME": str(root), "SMX_HERD_DB_URL": herd_db_url,
        "SMX_SENSOR_STORE_URL": sensor_url, "MLFLOW_TRACKING_URI": mlflow_uri, "SMX_FEATURES_PATH": features,
        "SMX_API_TOKEN": TOKEN, "SMX_API_MODEL_TTL_S": "2",
        "SMX_PARTITIONS_START": os.environ.get("SMX_PARTITIONS_START", "2026-09-01"),
    })
    log = root / "serve.log"
    proc, url = start_server(env, log)
    try:
        yield Served(kind, root, env, url, log, herd_db_url, sensor_url, mlflow_uri, features, scored_at, proc)
    finally:
        stop_server(proc)


@pytest.fixture(scope="module", params=["embedded", "pg_influx"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp(f"api_{request.param}")
    if request.param == "embedded":
        yield from serve_herd("embedded", root, f"sqlite:///{root / 'herd.db'}", f"sqlite:///{root / 'sensors.db'}")
        return
    from smx_assets.devtools.scratch_databases import scratch_database
    from smx_assets_tests.conftest import PG_ADMIN_URL

    server = request.getfixturevalue("influx_server")
    with scratch_database(PG_ADMIN_URL, prefix="smx_api") as pg:
        yield from serve_herd("pg_influx", root, pg, server.url_with(database=f"api_{uuid.uuid4().hex[:8]}"))
