"""The reliability suite's world: one small simulated herd in real stores, built once.

A SQLite herd DB and sensor store, a feature folder with the daily feature assets materialised,
and an MLflow store with every use case's rule baseline registered (no champion: scoring falls
back to the rules, as on a fresh deployment). Fault tests start their own InfluxDB servers and
PostgreSQL databases next to it and copy the readings they need.

``mlflow_server``: a real ``mlflow server`` (the pinned MLflow) on a free loopback port, with
its own SQLite backend store and served artifacts, for the tests of MLflow over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from smx_assets.domain import model_registry
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets_tests.reliability.helpers import N_ANIMALS, MlflowServer, World, free_port
from smx_assets_tests.scenario import build_scenario, env


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root: Path = tmp_path_factory.mktemp("reliability")
    mlflow_uri = f"sqlite:///{root / 'mlflow.db'}"
    with env(SMX_HOME=str(root), MLFLOW_TRACKING_URI=mlflow_uri,
             SMX_HERD_DB_URL=f"sqlite:///{root / 'herd.db'}", SMX_FEATURES_PATH=str(root / "features")):
        sc = build_scenario(root, n_animals=N_ANIMALS, days=4, feature_days=(2, 3))
        model_registry.configure(mlflow_uri)
        frame = FeatureFiles(str(root / "features")).read("training_features", sc.day(2))
        for uc in all_use_cases():
            with model_registry.training_run(uc.experiment_name, run_name=f"{uc.name}-rule") as run:
                model_registry.log_rule_model(uc.rule_baseline, frame)
            model_registry.register(run.info.run_id, uc.rule_model_name)
    yield World(sc)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real MLflow tracking server (its start-up migrates a fresh SQLite store: ~30-60 s here)."""
    root: Path = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
         "--workers", "1"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = MlflowServer(f"http://127.0.0.1:{port}", root, proc)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn worker (our own group)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
