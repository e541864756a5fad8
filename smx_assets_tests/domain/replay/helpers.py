"""Helpers of the replay tests: score a scenario with Dagster, replay through the domain and the CLI."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain import model_registry
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.replay import Replayer
from smx_assets.domain.score_store import ScoreFiles, ScoreStore
from smx_assets_tests.scenario import Scenario, env

FMT = "%Y-%m-%d-%H:%M"


def score_range(sc: Scenario, first: pd.Timestamp, last: pd.Timestamp) -> None:
    """One real Dagster range run of ``scores`` over the buckets ``first .. last``."""
    result = dg.materialize(
        [scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources,
        tags={"dagster/asset_partition_range_start": first.strftime(FMT),
              "dagster/asset_partition_range_end": last.strftime(FMT)})
    assert result.success


def alerts(sc: Scenario) -> pd.DataFrame:
    with sc.herd_db.engine().connect() as conn:
        return pd.read_sql_query(sa.text("SELECT * FROM alerts ORDER BY bucket_start, id"), conn)


def replayer(sc: Scenario, code_version: str = "test-code") -> Replayer:
    engine = sc.herd_db.engine()
    base = sc.resources["feature_store"].base_path  # type: ignore[attr-defined]
    return Replayer(engine=engine, store=sc.sensor_store.open(), files=FeatureFiles(base),
                    scores=ScoreStore(engine, ScoreFiles(base)),
                    client=model_registry.configure(sc.resources["mlflow"].tracking_uri),  # type: ignore[attr-defined]
                    running_code_version=code_version)


@contextmanager
def smx_env(sc: Scenario, **extra: str) -> Any:
    values = {"SMX_HOME": str(sc.root), "MLFLOW_TRACKING_URI": sc.resources["mlflow"].tracking_uri,  # type: ignore[attr-defined]
              "SMX_HERD_DB_URL": sc.herd_db.url, "SMX_SENSOR_STORE_URL": sc.sensor_store.url,
              "SMX_FEATURES_PATH": sc.resources["feature_store"].base_path, **extra}  # type: ignore[attr-defined]
    with env(**values):
        yield


def smx_replay(sc: Scenario, capsys: Any, *args: str, **env_vars: str) -> tuple[int, Any, str]:
    """``smx replay ARGS`` through the real entry point: (exit status, parsed JSON or stdout, stderr)."""
    from smx_assets.cli import main

    capsys.readouterr()
    with smx_env(sc, **env_vars):
        rc = main(["replay", *args])
    out = capsys.readouterr()
    doc = json.loads(out.out) if "--json" in args and out.out.strip() else out.out
    return rc, doc, out.err
