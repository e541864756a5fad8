"""The code location loads as `dagster dev` / the code server would load it."""

from __future__ import annotations

import importlib

import dagster as dg
import pytest

EXPECTED_ASSETS = {
    "bolus_readings", "climate_readings", "herd_records",
    "animal_profiles", "sensor_baselines", "training_features",
    "heat_model", "calving_model", "fever_model", "heat_promotion", "calving_promotion", "fever_promotion",
    "scores", "drift_report", "alert_volume", "model_performance",
}
EXPECTED_JOBS = {"daily_features_job", "training_job", "scoring_job", "monitoring_job", "rollback_job", "import_job",
                 "live_simulation_job"}


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dg.Definitions:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    import smx_assets.definitions as module

    return importlib.reload(module).defs


def test_definitions_validate_and_hold_every_domain(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    defs = _load(monkeypatch)
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert EXPECTED_ASSETS <= keys
    assert EXPECTED_JOBS <= {j.name for j in defs.jobs}
    assert {"scoring_sensor", "retraining_sensor"} <= {s.name for s in defs.sensors}
    scoring_job = defs.resolve_job_def("scoring_job")
    assert scoring_job.executor_def.name == "in_process"


def test_resources_use_embedded_defaults_without_configuration(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    defs = _load(monkeypatch)
    herd_db = defs.resources["herd_db"]
    assert herd_db.url == f"sqlite:///{smx_home / 'herd.db'}"
    assert defs.resources["mlflow"].tracking_uri == f"sqlite:///{smx_home / 'mlflow.db'}"


def test_configured_urls_are_env_vars_so_secrets_stay_out_of_the_ui(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_url = "influxdb://smx:s3cr3t-pw@127.0.0.1:8086/smx"
    defs = _load(monkeypatch, SMX_SENSOR_STORE_URL=secret_url)
    store = defs.resources["sensor_store"]
    # An EnvVar, not the literal: Dagster shows the variable's name, never its value.
    assert isinstance(store.url, dg.EnvVar)
    assert store.url.env_var_name == "SMX_SENSOR_STORE_URL"


def test_lineage_runs_from_sensor_data_to_monitoring(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ML story as edges: sensor data -> features -> model -> promotion -> scores -> monitoring."""
    defs = _load(monkeypatch)
    graph = defs.resolve_asset_graph()

    def parents(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}

    assert "bolus_readings" in parents("sensor_baselines")
    assert {"sensor_baselines", "animal_profiles"} <= parents("training_features")
    for uc in ("heat", "calving", "fever"):
        assert "training_features" in parents(f"{uc}_model")
        assert f"{uc}_model" in parents(f"{uc}_promotion")
        assert f"{uc}_promotion" in parents("scores"), f"scores does not depend on {uc}_promotion"
        children = {k.to_user_string() for k in graph.get(dg.AssetKey(f"{uc}_promotion")).child_keys}
        assert children == {"scores"}
    for monitor in ("drift_report", "alert_volume", "model_performance", "scoring_operations", "alerts_report"):
        assert "scores" in parents(monitor), monitor
    # The edges do not drag training into a bucket run, nor scoring into a retraining run.
    scoring = defs.resolve_job_def("scoring_job")
    assert {k.to_user_string() for k in scoring.asset_layer.selected_asset_keys} == {"scores"}
    retraining = defs.resolve_job_def("retraining_job")
    selected = {k.to_user_string() for k in retraining.asset_layer.selected_asset_keys}
    assert "scores" not in selected and {"heat_model", "heat_promotion"} <= selected


def test_schedules_and_sensors_say_what_they_do(smx_home, monkeypatch: pytest.MonkeyPatch) -> None:
    defs = _load(monkeypatch)
    repo = defs.get_repository_def()
    for d in [*repo.schedule_defs, *repo.sensor_defs]:
        assert d.description and len(d.description) > 40, f"{d.name} has no description"
    alternative = repo.get_schedule_def("scoring_schedule")
    assert alternative.default_status == dg.DefaultScheduleStatus.STOPPED
    assert alternative.description.startswith("Alternative to scoring_sensor, not used")
