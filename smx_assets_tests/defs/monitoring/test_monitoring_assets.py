"""Monitoring assets materialised for real on a simulated herd (SQLite herd DB and sensor store,
MLflow sqlite store, Parquet features under a temp folder, a temporary Dagster instance).

The herd's boluses get a firmware offset of +1.0 °C from day 14: day 13 must pass the drift
check, day 14 must fail it, and the failure must make the retraining sensor launch retraining.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from smx_assets.defs import load_domain
from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features
from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.monitoring import sensors as sensors_mod
from smx_assets.defs.monitoring.assets import alert_volume, drift_report, model_performance, scoring_operations
from smx_assets.defs.partitions import PARTITIONS_START
from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.monitoring.retraining import RetrainingCursor
from smx_assets.domain.scoring.engine import window_features
from smx_assets.domain.scoring.outputs import insert_alerts
from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.domain.simulator.simulation import simulate
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource
from smx_assets_tests.score_tables import write_scores

START = pd.Timestamp(PARTITIONS_START, tz="UTC")
DAY = pd.Timedelta(days=1)
OFFSET_DAY = 14
FEATURES = [animal_profiles, sensor_baselines, training_features, *SOURCE_SPECS]
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def _key(k: int) -> str:
    return (START + k * DAY).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """30 cows, 16 days, firmware offset from day 14; features for days 10-15, scored vectors 13-14."""
    tmp: Path = tmp_path_factory.mktemp("monitoring")
    cfg = SimConfig(n_animals=30, days=16, seed=5, start=START.date(),
                    temp_offset_from=(START + OFFSET_DAY * DAY).date(), temp_offset_c=1.0)
    herd = simulate(cfg)
    upgrade_herd_db(f"sqlite:///{tmp / 'herd.db'}")  # start-up step: resources only check the schema
    res = {
        "herd_db": HerdDbResource(url=f"sqlite:///{tmp / 'herd.db'}"),
        "sensor_store": SensorStoreResource(url=f"sqlite:///{tmp / 'sensors.db'}"),
        "feature_store": FeatureStoreResource(base_path=str(tmp / "features")),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}"),
    }
    write_herd(herd, res["herd_db"].engine())
    store = res["sensor_store"].open()
    store.write_bolus(herd.bolus.drop(columns=["received_at"]))
    store.write_climate(herd.climate.drop(columns=["received_at"]))
    (tmp / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp / "dagster_home"))
    result = dg.materialize(FEATURES, selection=[animal_profiles, sensor_baselines, training_features],
                            resources=res, instance=instance,
                            tags={"dagster/asset_partition_range_start": _key(10),
                                  "dagster/asset_partition_range_end": _key(15)})
    assert result.success
    # What the scoring path stores for each scored bucket (no models needed for drift).
    files = FeatureFiles(res["feature_store"].base_path)
    records = load_herd_records(res["herd_db"].engine())
    for k in (13, 14):
        files.write_scored(window_features(store, records, files, START + k * DAY, START + (k + 1) * DAY))
    return {"resources": res, "instance": instance, "tmp": tmp}


def _materialize(env: dict, asset: dg.AssetsDefinition, key: str, run_config: dict | None = None
                 ) -> dg.ExecuteInProcessResult:
    return dg.materialize([asset, *SOURCE_SPECS], resources=env["resources"], instance=env["instance"],
                          partition_key=key, run_config=run_config)


DRIFT_CONFIG = {"ops": {"drift_report": {"config": {"fallback_days": 3}}}}


def test_definitions_load_with_jobs_and_sensor(env) -> None:
    merged = dg.Definitions.merge(load_domain("monitoring"), dg.Definitions(assets=FEATURES[:3] + SOURCE_SPECS,
                                                                  resources=env["resources"]))
    assert merged.resolve_job_def("monitoring_job").name == "monitoring_job"
    assert merged.resolve_sensor_def("retraining_sensor") is not None
    for a in (drift_report, alert_volume, scoring_operations):
        assert a.backfill_policy == dg.BackfillPolicy.single_run()


def test_no_drift_passes_then_injected_drift_fails_and_triggers_retraining(env, monkeypatch) -> None:
    ok = _materialize(env, drift_report, _key(13), DRIFT_CONFIG)
    check = ok.get_asset_check_evaluations()[0]
    # A clean day is not a failure. With the activity noise calibrated on real collar data
    # (issue 11) about a fifth of a 30-cow herd's activity columns differ day to day, so the
    # clean day may warn (measured: 21 %, warn above 20 %), never fail (35 %).
    assert check.passed or check.severity == dg.AssetCheckSeverity.WARN, check.metadata
    assert check.metadata["level"].text in ("ok", "warn") if "level" in check.metadata else check.passed
    mat = ok.asset_materializations_for_node("drift_report")[0].metadata
    # The report is an MLflow artifact linked by an http URL to the MLflow UI, never a file path.
    url = mat["report_url"]
    assert isinstance(url, dg.UrlMetadataValue)
    assert url.value.startswith("http://127.0.0.1:5000/#/experiments/")
    assert url.value.endswith(f"/artifactPath/drift_reports/{_key(13)}.html")
    run_id = mat["report_mlflow_run_id"].value
    assert f"/runs/{run_id}/" in url.value
    client = env["resources"]["mlflow"].client()
    html = Path(client.download_artifacts(run_id, f"drift_reports/{_key(13)}.html", str(env["tmp"])))
    assert html.stat().st_size > 100_000 and html.read_text()[:200].lower().count("html")
    assert client.get_run(run_id).data.metrics["drift_share"] == pytest.approx(mat["drift_share"].value)
    assert mat["monitored_columns_count"].value > 20
    assert "file://" not in str({k: v.value for k, v in mat.items()})
    assert "3 days before" in mat["reference"].value

    # Sensor after a passing check: nothing to do.
    sensor = sensors_mod.retraining_sensor
    now = START + 16 * DAY
    monkeypatch.setattr(sensors_mod, "utc_now", lambda: now)
    ctx = dg.build_sensor_context(instance=env["instance"], cursor=None)
    res = sensor(ctx)
    assert res.run_requests == []

    bad = _materialize(env, drift_report, _key(OFFSET_DAY), DRIFT_CONFIG)
    check = bad.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR, check.metadata
    drifted = bad.asset_materializations_for_node("drift_report")[0].metadata["drifted_columns"].value
    assert "temp_clean" in drifted and "temp_raw" in drifted

    ctx = dg.build_sensor_context(instance=env["instance"], cursor=res.cursor)
    res2 = sensor(ctx)
    # training_features exists for days 10-15 only: the 30-day window is backfilled first.
    assert len(res2.run_requests) == 1
    req = res2.run_requests[0]
    assert req.job_name == "retraining_features_job"
    assert req.tags["dagster/asset_partition_range_start"] == _key(-14)
    assert req.tags["dagster/asset_partition_range_end"] == _key(9)
    assert "drift_report:drift_share" in req.tags["smx/retrain_reason"]
    cursor = RetrainingCursor.from_json(res2.cursor)
    assert cursor.pending_reason and cursor.triggers == 1

    # The same failed evaluation is never acted on twice.
    cursor.pending_backfill_run_id = None
    res3 = sensor(dg.build_sensor_context(instance=env["instance"], cursor=cursor.to_json()))
    assert res3.run_requests == []


def _write_day(engine, features_base: str, day: pd.Timestamp, n_alerts: int, animals: int = 30) -> None:
    buckets = pd.date_range(day, day + DAY, freq="60min", inclusive="left")
    rows = pd.DataFrame([(a, b) for a in range(1, animals + 1) for b in buckets], columns=["animal_id", "bucket_start"])
    rows = rows.assign(use_case="fever", score=0.1, shadow=False, model_name="smx-fever", model_version="1",
                       model_alias="champion", mlflow_run_id=None, code_version="test", partition_key="p",
                       dagster_run_id=None, feature_ref="", scored_at=day + DAY)
    write_scores(engine, features_base, rows)
    alerts = pd.DataFrame({"use_case": "fever", "animal_id": range(1, n_alerts + 1),
                           "bucket_start": [day + pd.Timedelta(hours=1)] * n_alerts, "score": 0.9, "threshold": 0.5,
                           "model_name": "smx-fever", "model_version": "1", "mlflow_run_id": None,
                           "code_version": "test", "partition_key": "p", "dagster_run_id": None, "feature_ref": "",
                           "features": [{}] * n_alerts, "created_at": day + DAY})
    insert_alerts(engine, alerts)


def test_alert_volume_flags_a_jump(env) -> None:
    engine = env["resources"]["herd_db"].engine()
    for k, n in ((20, 1), (21, 2), (22, 1), (23, 1), (24, 12)):
        _write_day(engine, env["resources"]["feature_store"].base_path, START + k * DAY, n)
    normal = _materialize(env, alert_volume, _key(23))
    assert normal.get_asset_check_evaluations()[0].passed
    jump = _materialize(env, alert_volume, _key(24))
    check = jump.get_asset_check_evaluations()[0]
    assert not check.passed and "jump" in check.description
    md = jump.asset_materializations_for_node("alert_volume")[0].metadata
    assert md["alerts_fever"].value == 12 and 1.0 < md["expected_fever"].value < 2.0


def test_scoring_operations_plots_lag_and_runs(env) -> None:
    result = _materialize(env, scoring_operations, _key(24))
    md = result.asset_materializations_for_node("scoring_operations")[0].metadata
    # _write_day scored every bucket at the day's end: the first bucket waited 23 h 50 min.
    assert md["scoring_lag_max_min"].value == pytest.approx(23 * 60 + 50)
    # close-to-scored per bucket: the same 23 h 50 min at worst, each bucket once, by one run
    assert md["close_to_scored_max_min"].value == pytest.approx(23 * 60 + 50)
    # (the lineage window runs from the first to the last hourly bucket written: 00:00..23:10)
    assert md["buckets_scored_live"].value == 23 * 6 + 1 and md["buckets_scored_later_than_a_day"].value == 0
    assert md["scoring_runs_per_bucket_max"].value == 1 and md["buckets_run_more_than_once"].value == 0
    # counts are integers under readable names (no `runs_runs`, no 12.0)
    assert isinstance(md["live_alerts"], dg.IntMetadataValue) and md["live_alerts"].value == 12
    assert isinstance(md["dagster_runs"], dg.IntMetadataValue) and md["dagster_runs"].value >= 0
    assert not any(k.startswith("runs_") or k.endswith("_n") for k in md)


def test_checks_without_data_warn_with_the_reason_and_never_pass(env) -> None:
    # Day 11: features exist, but nothing was scored and no label arrived: nothing can be judged.
    for asset, check_name in ((model_performance, "performance_vs_training"), (drift_report, "drift_share"),
                              (alert_volume, "alert_volume_normal")):
        result = _materialize(env, asset, _key(11), DRIFT_CONFIG if asset is drift_report else None)
        check = result.get_asset_check_evaluations()[0]
        assert check.check_name == check_name
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN, (check_name, check.description)
        assert check.description.startswith("not judged"), check.description
        assert check.metadata["reason"].value == check.description
