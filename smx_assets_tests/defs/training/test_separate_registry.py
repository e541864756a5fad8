"""Training and rollback reach MLflow through MlflowResource.client(), registry URI included.

They used to build their client from the tracking URI alone (``reg.configure(tracking_uri)``),
so with a separate registry the rollback job looked for versions in the tracking store.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

from smx_assets.defs.training.jobs import rollback_job
from smx_assets.resources import MlflowResource


def test_rollback_job_moves_champion_in_the_separate_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    tracking, registry = f"sqlite:///{tmp_path / 'tracking.db'}", f"sqlite:///{tmp_path / 'registry.db'}"
    resource = MlflowResource(tracking_uri=tracking, registry_uri=registry)
    try:
        client = resource.client()
        client.create_registered_model("smx-heat")
        for _ in range(2):
            client.create_model_version("smx-heat", source=(tmp_path / "model").as_uri(), run_id=None)
        client.set_registered_model_alias("smx-heat", "champion", "2")
        result = rollback_job.execute_in_process(
            run_config={"ops": {"rollback_champion": {"config": {"use_case": "heat", "to_version": 1}}}},
            resources={"mlflow": resource}, raise_on_error=False)
        assert result.success
        assert str(client.get_model_version_by_alias("smx-heat", "champion").version) == "1"
        # and nothing of it went to the tracking store's own registry tables
        tracking_only = mlflow.MlflowClient(tracking_uri=tracking, registry_uri=tracking)
        assert tracking_only.search_registered_models() == []
    finally:
        # MlflowResource.configure() set the registry URI process-wide (and in the environment)
        mlflow.set_registry_uri(None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
