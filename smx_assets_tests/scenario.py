"""A small simulated herd in real stores, shared by the scoring, monitoring and CLI tests.

Builds it once per test module: herd DB and sensor store (SQLite files), MLflow tracking store
(SQLite + local artifacts), feature Parquet folder; loads a simulated herd through the real
loader and ingest validation, and materialises the daily feature assets with Dagster.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features
from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.partitions import PARTITIONS_START
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.loader import load
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource

START = pd.Timestamp(PARTITIONS_START, tz="UTC")
DAY = pd.Timedelta(days=1)


@dataclass
class Scenario:
    root: Path
    resources: dict[str, object]
    config: SimConfig
    herd: object

    @property
    def herd_db(self) -> HerdDbResource:
        return self.resources["herd_db"]  # type: ignore[return-value]

    @property
    def sensor_store(self) -> SensorStoreResource:
        return self.resources["sensor_store"]  # type: ignore[return-value]

    def day(self, k: int) -> pd.Timestamp:
        return START + k * DAY


@contextmanager
def env(**values: str) -> Iterator[None]:
    """Set environment variables for a module-scoped fixture (monkeypatch is function-scoped)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_scenario(root: Path, *, n_animals: int = 25, days: int = 14, seed: int = 11,
                   feature_days: tuple[int, int] | None = None, n_farms: int = 2,
                   herd_db_url: str | None = None, sensor_store_url: str | None = None) -> Scenario:
    """Simulate, load, and materialise the daily feature assets over ``feature_days`` (first, last).

    ``herd_db_url`` / ``sensor_store_url``: PostgreSQL / InfluxDB instead of the SQLite files."""
    config = SimConfig(n_animals=n_animals, days=days, seed=seed, start=START.date(), n_farms=n_farms)
    herd = simulate(config)
    herd_db_url = herd_db_url or f"sqlite:///{root / 'herd.db'}"
    upgrade_herd_db(herd_db_url)  # start-up step: resources only check the schema
    resources: dict[str, object] = {
        "herd_db": HerdDbResource(url=herd_db_url),
        "sensor_store": SensorStoreResource(url=sensor_store_url or f"sqlite:///{root / 'sensors.db'}"),
        "feature_store": FeatureStoreResource(base_path=str(root / "features")),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow.db'}"),
    }
    engine = resources["herd_db"].engine()  # type: ignore[attr-defined]
    load(herd, engine, resources["sensor_store"].open())  # type: ignore[attr-defined]
    first, last = feature_days or (days - 3, days - 1)
    result = dg.materialize(
        [animal_profiles, sensor_baselines, training_features, *SOURCE_SPECS],
        selection=[animal_profiles, sensor_baselines, training_features],
        resources=resources,
        tags={"dagster/asset_partition_range_start": (START + first * DAY).strftime("%Y-%m-%d"),
              "dagster/asset_partition_range_end": (START + last * DAY).strftime("%Y-%m-%d")},
    )
    assert result.success
    return Scenario(root=root, resources=resources, config=config, herd=herd)


@contextmanager
def rule_baseline_scenario(root: Path, **build: Any) -> Iterator[Scenario]:
    """A built scenario, inside its environment, whose use cases have only their rule baselines
    registered (trained on day 11's training features): the scoring tests' common start, where
    scoring falls back to the rule because no champion exists yet."""
    from smx_assets.domain import model_registry
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.use_cases.catalog import all_use_cases

    with env(SMX_HOME=str(root), MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
             SMX_HERD_DB_URL=build.get("herd_db_url") or f"sqlite:///{root / 'herd.db'}",
             SMX_SENSOR_STORE_URL=build.get("sensor_store_url") or f"sqlite:///{root / 'sensors.db'}",
             SMX_FEATURES_PATH=str(root / "features")):
        sc = build_scenario(root, **build)
        model_registry.configure(f"sqlite:///{root / 'mlflow.db'}")
        frame = FeatureFiles(str(root / "features")).read("training_features", sc.day(11))
        for uc in all_use_cases():
            with model_registry.training_run(uc.experiment_name, run_name=f"{uc.name}-rule") as run:
                model_registry.log_rule_model(uc.rule_baseline, frame)
            model_registry.register(run.info.run_id, uc.rule_model_name)
        yield sc
