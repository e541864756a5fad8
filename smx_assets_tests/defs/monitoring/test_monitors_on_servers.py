"""The monitors on the production stores: a herd in PostgreSQL (records, lineage, alerts) and
InfluxDB (readings), scores in the score store, written by a real retro-scoring run; then
drift, alert volume, model performance, scoring operations and the alerts report materialise
for that day and report what the stores hold (each figure checked against the stores read
directly)."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.commands.score import score_range
from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features
from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.monitoring.assets import (
    alert_volume,
    alerts_report,
    drift_report,
    model_performance,
    scoring_operations,
)
from smx_assets.domain import model_registry
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.score_store import ScoreFiles, ScoreStore
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.loader import load
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource
from smx_assets_tests.scenario import START, env

DAY = pd.Timedelta(days=1)
SCORED = START + 12 * DAY


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, pg_url_session: str, influx_server) -> dict:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("monitors_servers")
    influx = influx_server.url_with(database=f"mon_{uuid.uuid4().hex[:8]}")
    upgrade_herd_db(pg_url_session)
    res = {"herd_db": HerdDbResource(url=pg_url_session), "sensor_store": SensorStoreResource(url=influx),
           "feature_store": FeatureStoreResource(base_path=str(root / "features")),
           "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")}
    herd = simulate(SimConfig(n_animals=30, days=14, seed=11, start=START.date(), n_farms=2))
    with env(SMX_HOME=str(root), MLFLOW_TRACKING_URI=res["mlflow"].tracking_uri, SMX_HERD_DB_URL=pg_url_session,
             SMX_SENSOR_STORE_URL=influx, SMX_FEATURES_PATH=str(root / "features")):
        store = res["sensor_store"].open()
        store.ensure_schema()
        load(herd, res["herd_db"].engine(), store)
        instance = dg.DagsterInstance.ephemeral()
        assert dg.materialize([animal_profiles, sensor_baselines, training_features, *SOURCE_SPECS],
                              selection=[animal_profiles, sensor_baselines, training_features], resources=res,
                              instance=instance,
                              tags={"dagster/asset_partition_range_start": f"{START + 9 * DAY:%Y-%m-%d}",
                                    "dagster/asset_partition_range_end": f"{START + 11 * DAY:%Y-%m-%d}"}).success
        model_registry.configure(res["mlflow"].tracking_uri)
        frame = FeatureFiles(str(root / "features")).read("training_features", START + 11 * DAY)
        for uc in all_use_cases():
            with model_registry.training_run(uc.experiment_name, run_name=f"{uc.name}-rule") as run:
                model_registry.log_rule_model(uc.rule_baseline, frame)
            model_registry.register(run.info.run_id, uc.rule_model_name)
        summary = score_range(SCORED.date(), SCORED.date(), resources=res, instance=instance)
        yield {"resources": res, "instance": instance, "summary": summary, "root": root}


def _run(servers: dict, asset: dg.AssetsDefinition, config: dict | None = None) -> dg.ExecuteInProcessResult:
    result = dg.materialize([asset, *SOURCE_SPECS], resources=servers["resources"], instance=servers["instance"],
                            partition_key=f"{SCORED:%Y-%m-%d}", run_config=config)
    assert result.success
    return result


def _meta(result: dg.ExecuteInProcessResult, name: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}


def test_the_day_was_scored_into_the_score_store_with_lineage_in_postgresql(servers: dict) -> None:
    engine = servers["resources"]["herd_db"].engine()
    assert engine.dialect.name == "postgresql"
    scores = ScoreStore(engine, ScoreFiles(servers["resources"]["feature_store"].base_path))
    stored = scores.read(SCORED, SCORED + DAY)
    assert len(stored) == servers["summary"].predictions_written > 0
    assert set(stored["use_case"]) == {"heat", "calving", "fever"} and stored["model_name"].notna().all()
    assert "predictions" not in sa.inspect(engine).get_table_names()


def test_alert_volume_and_alerts_report_count_the_days_alerts(servers: dict) -> None:
    engine = servers["resources"]["herd_db"].engine()
    with engine.connect() as conn:
        per_uc = dict(conn.execute(sa.text(
            "SELECT use_case, count(*) FROM alerts WHERE bucket_start >= :lo AND bucket_start < :hi GROUP BY use_case"),
            {"lo": SCORED.tz_localize(None).to_pydatetime(), "hi": (SCORED + DAY).tz_localize(None).to_pydatetime()}
        ).all())
    scores = ScoreStore(engine, ScoreFiles(servers["resources"]["feature_store"].base_path))
    champions = scores.read(SCORED, SCORED + DAY, shadow=False)
    meta = _meta(_run(servers, alert_volume), "alert_volume")
    for uc in ("heat", "calving", "fever"):
        assert meta[f"alerts_{uc}"] == per_uc.get(uc, 0)
        assert meta[f"animals_scored_{uc}"] == champions.loc[champions["use_case"] == uc, "animal_id"].nunique() > 0
    report = _meta(_run(servers, alerts_report), "alerts_report")
    assert report["run_alerts_per_day"][f"{SCORED:%Y-%m-%d}"] == sum(per_uc.values())


def test_scoring_operations_reads_the_lineage_and_model_performance_the_scores(servers: dict) -> None:
    ops = _meta(_run(servers, scoring_operations), "scoring_operations")
    day = ops["run_per_day"][f"{SCORED:%Y-%m-%d}"]
    assert day["scoring_lag_min"]["n_retro"] == 144  # every bucket of the retro run, from its lineage row
    # the performance window ends 4 days before its day's end: the day whose window holds SCORED
    later = SCORED + 4 * DAY
    perf = dg.materialize([model_performance, *SOURCE_SPECS], resources=servers["resources"],
                          instance=servers["instance"], partition_key=f"{later:%Y-%m-%d}")
    assert perf.success
    per_uc = _meta(perf, "model_performance")["run_per_day"][f"{later:%Y-%m-%d}"]
    for uc in ("heat", "calving", "fever"):
        assert per_uc[uc], (uc, per_uc)  # the champion's version, found by its scores in the store
    drift = _meta(_run(servers, drift_report, {"ops": {"drift_report": {"config": {"fallback_days": 3}}}}),
                  "drift_report")
    judged = drift["run_per_day"][f"{SCORED:%Y-%m-%d}"]
    assert "share" in judged, judged  # the day's scored vectors and champion scores were found
