"""The reliability suite's world: one small simulated herd in real stores, built once.

A SQLite herd DB and sensor store, a feature folder with the daily feature assets materialised,
and an MLflow store with every use case's rule baseline registered (no champion: scoring falls
back to the rules, as on a fresh deployment). Fault tests start their own InfluxDB servers and
PostgreSQL databases next to it and copy the readings they need.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smx_assets.domain import model_registry
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets_tests.reliability.helpers import N_ANIMALS, World
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
