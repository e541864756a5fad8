"""The `scores` asset and scoring sensor on real stores: SQLite herd DB and sensor store, a real
MLflow tracking store, real Dagster materialisations."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring import sensors as scoring_sensors
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain import model_registry
from smx_assets.domain.features.pipeline import FEATURE_COLUMNS
from smx_assets.domain.features.profile import active_animals, load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.monitoring.alert_lookup import explain
from smx_assets.domain.time_grid import BUCKET
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.settings import Settings
from smx_assets_tests.scenario import Scenario, env, rule_baseline_scenario
from smx_assets_tests.score_tables import clear_scores, stored_scores

FMT = "%Y-%m-%d-%H:%M"
N_ANIMALS = 25


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    with rule_baseline_scenario(tmp_path_factory.mktemp("scoring"), n_animals=N_ANIMALS, days=14, feature_days=(10, 13)) as sc:
        yield sc


def _materialize(sc: Scenario, first: pd.Timestamp, last: pd.Timestamp | None = None,
                 write_alerts: bool = True, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    kwargs: dict[str, object] = {"instance": instance}
    if last is None:
        kwargs["partition_key"] = first.strftime(FMT)
    else:
        kwargs["tags"] = {"dagster/asset_partition_range_start": first.strftime(FMT),
                          "dagster/asset_partition_range_end": last.strftime(FMT)}
    return dg.materialize(
        [scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources,
        run_config={"ops": {"scores": {"config": {"write_alerts": write_alerts}}}}, **kwargs,
    )


def _active(sc: Scenario, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Animals with a working bolus in the window (a few boluses are inserted mid-simulation)."""
    records = load_herd_records(sc.herd_db.engine())
    n = len(active_animals(records, start, end))
    assert N_ANIMALS - 5 <= n <= N_ANIMALS
    return n


def _table(sc: Scenario, name: str) -> pd.DataFrame:
    if name == "predictions":  # the score store, read back as the old table looked
        return stored_scores(sc.herd_db.engine(), sc.resources["feature_store"].base_path)
    with sc.herd_db.engine().connect() as conn:
        frame = pd.read_sql_query(sa.text(f"SELECT * FROM {name}"), conn)
    if "shadow" in frame:
        frame["shadow"] = frame["shadow"].astype(bool)  # SQLite returns 0/1
    return frame


def _clear_outputs(sc: Scenario) -> None:
    with sc.herd_db.engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM feedback"))
        conn.execute(sa.text("DELETE FROM alerts"))
    clear_scores(sc.herd_db.engine(), sc.resources["feature_store"].base_path)


def _register_heat_ml(sc: Scenario, alias: str) -> str:
    """A real sklearn pipeline registered as smx-heat (its target is a simple activity rule: this
    test is about scoring mechanics, the models' quality is tested with the training layer)."""
    uc = next(u for u in all_use_cases() if u.name == "heat")
    frame = FeatureFiles(sc.resources["feature_store"].base_path).read("training_features", sc.day(12))
    X = frame[list(uc.feature_columns)]
    y = (frame["activity_ratio_hod_2h"].fillna(1.0) > 1.3).astype(int)
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=200)).fit(X, y)
    with model_registry.training_run(uc.experiment_name, run_name="heat-test") as run:
        model_registry.log_sklearn_model(model, X)
    version = model_registry.register(run.info.run_id, uc.model_name)
    model_registry.set_alias(uc.model_name, alias, version)
    return version


def test_one_bucket_without_champion_scores_with_rule_baselines(scenario: Scenario) -> None:
    _clear_outputs(scenario)
    bucket = scenario.day(13) + pd.Timedelta(hours=12)
    result = _materialize(scenario, bucket)
    assert result.success
    preds = _table(scenario, "predictions")
    assert len(preds) == _active(scenario, bucket, bucket + BUCKET) * 3
    assert set(preds["model_name"]) == {uc.rule_model_name for uc in all_use_cases()}
    assert not preds["shadow"].any()
    assert set(preds["partition_key"]) == {bucket.strftime(FMT)}
    assert preds["code_version"].str.len().min() > 0 and preds["mlflow_run_id"].notna().all()
    assert preds["score"].between(0, 1).all()
    meta = result.asset_materializations_for_node("scores")[0].metadata
    assert meta["animals_scored"].value == _active(scenario, bucket, bucket + BUCKET)
    assert set(meta["rule_fallback_use_cases"].value.split(", ")) == {"heat", "calving", "fever"}
    # The feature vector referenced by every prediction exists and holds that animal's row.
    ref = preds["feature_ref"].iloc[0]
    path, _, frag = ref.partition("#")
    stored = pd.read_parquet(path)
    assert int(frag.split("=")[1]) in set(stored["animal_id"])


def test_rerun_replaces_predictions_and_never_duplicates_alerts(scenario: Scenario) -> None:
    _clear_outputs(scenario)
    first, last = scenario.day(12), scenario.day(13) - BUCKET
    assert _materialize(scenario, first, last).success
    preds1, alerts1 = _table(scenario, "predictions"), _table(scenario, "alerts")
    assert preds1.groupby("bucket_start").size().eq(_active(scenario, first, last + BUCKET) * 3).all()
    assert preds1["bucket_start"].nunique() == 144
    assert _materialize(scenario, first, last).success
    preds2, alerts2 = _table(scenario, "predictions"), _table(scenario, "alerts")
    assert len(preds2) == len(preds1)
    assert not preds2.duplicated(["use_case", "model_name", "animal_id", "bucket_start"]).any()
    assert len(alerts2) == len(alerts1)
    assert list(alerts2["id"]) == list(alerts1["id"])  # the same alerts, not re-created
    # One alert per episode: no animal alerts twice for one use case inside its refractory period.
    for uc in all_use_cases():
        a = alerts2[alerts2["use_case"] == uc.name].sort_values(["animal_id", "bucket_start"])
        gaps = pd.to_datetime(a["bucket_start"]).groupby(a["animal_id"]).diff().dropna()
        assert (gaps >= uc.alert_policy.refractory).all()


def test_range_run_equals_bucket_by_bucket_runs(scenario: Scenario) -> None:
    _clear_outputs(scenario)
    first = scenario.day(13) + pd.Timedelta(hours=6)
    last = first + 11 * BUCKET
    instance = dg.DagsterInstance.ephemeral()
    assert _materialize(scenario, first, last, instance=instance).success
    batch = _table(scenario, "predictions")[["use_case", "animal_id", "bucket_start", "score"]]
    batch_alerts = _table(scenario, "alerts")[["use_case", "animal_id", "bucket_start"]]
    # Each bucket's materialisation in the event log carries that bucket's figures, not the run's.
    buckets = pd.to_datetime(batch["bucket_start"]).dt.tz_localize("UTC")
    alert_buckets = pd.to_datetime(batch_alerts["bucket_start"]).dt.tz_localize("UTC")
    for k in range(12):
        bucket = first + k * BUCKET
        records = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("scores"), asset_partitions=[bucket.strftime(FMT)]), limit=1).records
        md = records[0].asset_materialization.metadata
        assert md["predictions_written"].value == int((buckets == bucket).sum()) > 0
        assert md["animals_scored"].value == _active(scenario, bucket, bucket + BUCKET)
        assert md["alerts_new_total"].value == int((alert_buckets == bucket).sum())
        assert md["buckets_scored"].value == 1
        assert md["run_predictions_written"].value == len(batch)
        assert md["run_partition_range"].value == f"{first.strftime(FMT)}..{last.strftime(FMT)}"
    _clear_outputs(scenario)
    for k in range(12):
        assert _materialize(scenario, first + k * BUCKET).success
    single = _table(scenario, "predictions")[["use_case", "animal_id", "bucket_start", "score"]]
    single_alerts = _table(scenario, "alerts")[["use_case", "animal_id", "bucket_start"]]
    key = ["use_case", "animal_id", "bucket_start"]
    merged = batch.merge(single, on=key, suffixes=("_batch", "_single"), validate="one_to_one")
    assert len(merged) == len(batch) == len(single) == _active(scenario, first, last + BUCKET) * 3 * 12
    assert (merged["score_batch"] - merged["score_single"]).abs().max() < 1e-9
    pd.testing.assert_frame_equal(batch_alerts.sort_values(key).reset_index(drop=True),
                                  single_alerts.sort_values(key).reset_index(drop=True))


def test_shadow_challenger_is_scored_but_never_alerts(scenario: Scenario) -> None:
    _clear_outputs(scenario)
    with env(MLFLOW_TRACKING_URI=scenario.resources["mlflow"].tracking_uri):
        champion = _register_heat_ml(scenario, "champion")
        challenger = _register_heat_ml(scenario, "challenger")
        try:
            result = _materialize(scenario, scenario.day(12), scenario.day(13) - BUCKET)
            assert result.success
            preds = _table(scenario, "predictions")
            heat = preds[preds["use_case"] == "heat"]
            assert set(heat.loc[~heat["shadow"], "model_version"]) == {champion}
            assert set(heat.loc[heat["shadow"], "model_version"]) == {challenger}
            assert heat["shadow"].sum() == (~heat["shadow"]).sum() > 0
            alerts = _table(scenario, "alerts")
            heat_alerts = alerts[alerts["use_case"] == "heat"]
            assert len(heat_alerts) > 0, "the activity-based test model should alert on some heats"
            assert set(heat_alerts["model_version"]) == {champion}
            meta = result.asset_materializations_for_node("scores")[0].metadata
            assert "heat" not in meta["rule_fallback_use_cases"].value
        finally:
            client = mlflow.MlflowClient()
            client.delete_registered_model_alias("smx-heat", "champion")
            client.delete_registered_model_alias("smx-heat", "challenger")


def test_explain_traces_an_alert_to_features_model_and_code(scenario: Scenario) -> None:
    _clear_outputs(scenario)
    assert _materialize(scenario, scenario.day(12), scenario.day(13) - BUCKET).success
    alerts = _table(scenario, "alerts")
    assert len(alerts) > 0
    alert_id = int(alerts["id"].iloc[0])
    settings = Settings(home=scenario.root, herd_db_url=scenario.herd_db.url,
                        sensor_store_url=scenario.sensor_store.url,
                        mlflow_tracking_uri=scenario.resources["mlflow"].tracking_uri,
                        features_path=scenario.resources["feature_store"].base_path)
    doc = explain(alert_id, settings)
    assert doc["alert"]["id"] == alert_id
    assert doc["model_version"]["name"] == alerts["model_name"].iloc[0]
    assert doc["mlflow_run"]["run_id"] == alerts["mlflow_run_id"].iloc[0]
    assert doc["mlflow_run"]["status"] == "FINISHED"
    assert doc["feature_vector"]["animal_id"] == alerts["animal_id"].iloc[0]
    # The features the model reads (a rule baseline reads one or two), all from the feature layer.
    assert isinstance(doc["features_on_alert"], dict) and doc["features_on_alert"]
    assert set(doc["features_on_alert"]) <= set(FEATURE_COLUMNS)
    assert set(doc["features_on_alert"]) <= set(doc["feature_vector"])
    assert doc["code_version"] == alerts["code_version"].iloc[0]
    with pytest.raises(LookupError):
        explain(10**9, settings)


def test_explain_plot_and_alerts_report_show_a_real_alert(scenario: Scenario, tmp_path: Path, capsys) -> None:
    """`smx explain ID --plot` draws a real PNG from a real alert; the day's alerts_report lists it."""
    import argparse

    from matplotlib.image import imread

    from smx_assets.commands import explain as explain_cmd
    from smx_assets.defs.monitoring.assets import alerts_report

    _clear_outputs(scenario)
    assert _materialize(scenario, scenario.day(12), scenario.day(13) - BUCKET).success
    alerts = _table(scenario, "alerts")
    assert len(alerts) > 0
    alert = alerts.iloc[0]
    png = tmp_path / "alert.png"
    root = scenario.root
    with env(SMX_HOME=str(root), MLFLOW_TRACKING_URI=scenario.resources["mlflow"].tracking_uri,
             SMX_HERD_DB_URL=scenario.herd_db.url, SMX_SENSOR_STORE_URL=scenario.sensor_store.url,
             SMX_FEATURES_PATH=scenario.resources["feature_store"].base_path):
        rc = explain_cmd.run(argparse.Namespace(alert_id=int(alert["id"]), json=True, plot=str(png)))
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000
    assert imread(str(png)).shape[:2] == (800, 1100)
    bucket = pd.Timestamp(alert["bucket_start"], tz="UTC")
    readings = scenario.sensor_store.open().read_bolus(bucket - pd.Timedelta(days=3), bucket + pd.Timedelta(days=1),
                                                       [int(alert["animal_id"])])
    preds = _table(scenario, "predictions")
    mine = preds[(preds["animal_id"] == alert["animal_id"]) & (preds["use_case"] == alert["use_case"])]
    assert doc["plot"]["readings"] == len(readings) > 0
    assert doc["plot"]["scores"] == len(mine) == 144  # the scored day, for this cow and use case

    instance = dg.DagsterInstance.ephemeral()
    day = scenario.day(12).strftime("%Y-%m-%d")
    assert dg.materialize([alerts_report], resources={"herd_db": scenario.herd_db}, partition_key=day,
                          instance=instance).success
    md = instance.fetch_materializations(dg.AssetKey("alerts_report"), limit=1).records[0].asset_materialization.metadata
    assert md["alerts"].value == len(alerts)
    table = md["report"].value
    assert table.count("\n") == len(alerts) + 1  # header, rule, one row per alert
    assert f"`smx explain {int(alert['id'])} --plot alert-{int(alert['id'])}.png`" in table
    assert f"[{alert['model_name']} v{alert['model_version']}](http://127.0.0.1:5000/#/models/" in table


# ------------------------------------------------------------------------------ sensor


def _tick(sc: Scenario, now: pd.Timestamp, cursor: str | None,
          monkeypatch: pytest.MonkeyPatch) -> dg.SensorResult:
    monkeypatch.setattr(scoring_sensors, "utc_now", lambda: now)
    ctx = dg.build_sensor_context(cursor=cursor, resources={"sensor_store": sc.sensor_store, "mlflow": sc.resources["mlflow"]})
    return scoring_sensors.scoring_sensor(ctx)


def test_sensor_requests_the_newest_bucket_first_and_catches_up_in_one_ranged_run(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = scenario.day(13) + pd.Timedelta(hours=3)
    first = _tick(scenario, t0 + pd.Timedelta(minutes=15), None, monkeypatch)
    assert [r.partition_key for r in first.run_requests] == [t0.strftime(FMT)]
    # Two hours of downtime: 12 buckets due. The newest first (priority 5), then the 11 behind
    # it as one ranged catch-up run (priority 0), none twice.
    res = _tick(scenario, t0 + pd.Timedelta(hours=2, minutes=15), first.cursor, monkeypatch)
    new = [r for r in res.run_requests if r.tags["smx/reason"] in ("new", "catch-up")]
    assert [(r.tags["smx/reason"], r.tags["dagster/priority"]) for r in new] == [("new", "5"), ("catch-up", "0")]
    assert new[0].partition_key == (t0 + 12 * BUCKET).strftime(FMT)
    assert new[1].partition_key is None
    assert (new[1].tags["dagster/asset_partition_range_start"], new[1].tags["dagster/asset_partition_range_end"]) == (
        (t0 + BUCKET).strftime(FMT), (t0 + 11 * BUCKET).strftime(FMT))
    again = _tick(scenario, t0 + pd.Timedelta(hours=2, minutes=16), res.cursor, monkeypatch)
    assert [r for r in again.run_requests if r.tags["smx/reason"] in ("new", "catch-up")] == []


def test_late_reading_triggers_one_rescore_of_its_bucket(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    # After the simulated window: every simulated reading has arrived by then, as in reality no
    # reading "arrives" in the future of the sensor's clock.
    t0 = scenario.day(14) + pd.Timedelta(minutes=10)
    now = t0 + pd.Timedelta(minutes=15)
    first = _tick(scenario, now, None, monkeypatch)
    assert [r.partition_key for r in first.run_requests] == [t0.strftime(FMT)]
    late_bucket = t0 - pd.Timedelta(hours=3)
    late = pd.DataFrame({"animal_id": [int(scenario.herd.animals["id"].iloc[0])],
                         "ts": [late_bucket + pd.Timedelta(minutes=4, seconds=7)],
                         "temp_c": [39.4], "activity": [33.0], "ph": [float("nan")],
                         "received_at": [now + pd.Timedelta(minutes=2)]})
    scenario.sensor_store.open().write_bolus(late)
    later = now + pd.Timedelta(minutes=5)
    res = _tick(scenario, later, first.cursor, monkeypatch)
    rescores = [r for r in res.run_requests if r.tags.get("smx/reason") == "late-data"]
    assert [r.partition_key for r in rescores] == [late_bucket.strftime(FMT)]
    # The same data does not trigger another run.
    again = _tick(scenario, later + pd.Timedelta(minutes=1), res.cursor, monkeypatch)
    assert [r for r in again.run_requests if r.tags.get("smx/reason") == "late-data"] == []
    # And the re-score run really runs on the late data.
    _clear_outputs(scenario)
    assert _materialize(scenario, late_bucket).success
    preds = _table(scenario, "predictions")
    assert len(preds) == _active(scenario, late_bucket, late_bucket + BUCKET) * 3


def test_a_day_without_materialised_baselines_gets_the_assets_baselines(scenario: Scenario) -> None:
    """Today's buckets are scored before the daily run: scoring computes that day's baselines
    with the asset's own function, and the asset later writes exactly the same numbers."""
    from smx_assets.defs.features.assets import sensor_baselines

    _clear_outputs(scenario)
    files = FeatureFiles(scenario.resources["feature_store"].base_path)
    day = scenario.day(14)
    assert not files.exists("sensor_baselines", day)
    assert _materialize(scenario, day).success
    on_the_fly = files.read("sensor_baselines", day)
    assert on_the_fly is not None and on_the_fly["temp_hod"].notna().mean() > 0.5
    result = dg.materialize([sensor_baselines, *SOURCE_SPECS], selection=[sensor_baselines],
                            resources=scenario.resources, partition_key=day.strftime("%Y-%m-%d"))
    assert result.success
    pd.testing.assert_frame_equal(files.read("sensor_baselines", day), on_the_fly)


def test_live_bucket_without_readings_is_recorded_then_rescored_when_they_arrive(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live mode: the sensor runs ahead of the farm's data. The empty bucket gets no predictions
    from trailing windows (its reading count says 0); when its readings arrive (stamped with the
    sensor's clock), the sensor re-scores exactly that bucket and then it has predictions."""
    _clear_outputs(scenario)
    empty = scenario.day(14) + pd.Timedelta(hours=2)  # after the simulated window: no readings yet
    now = empty + BUCKET + pd.Timedelta(minutes=6)
    first = _tick(scenario, now, None, monkeypatch)
    assert [r.partition_key for r in first.run_requests] == [empty.strftime(FMT)]
    result = _materialize(scenario, empty)
    meta = result.asset_materializations_for_node("scores")[0].metadata
    assert meta["readings_in_window"].value == 0 and meta["buckets_without_readings"].value == 1
    assert meta["predictions_written"].value == 0 and "without readings" in meta["no_readings"].value
    assert _table(scenario, "predictions").empty

    ids = scenario.herd.animals["id"].astype(int).tolist()[:5]
    arrived = now + pd.Timedelta(minutes=3)
    readings = pd.DataFrame({"animal_id": ids, "ts": [empty + pd.Timedelta(minutes=2)] * len(ids),
                             "temp_c": 39.1, "activity": 30.0, "ph": float("nan"), "received_at": arrived})
    scenario.sensor_store.open().write_bolus(readings)
    res = _tick(scenario, arrived + pd.Timedelta(minutes=1), first.cursor, monkeypatch)
    assert [(r.partition_key, r.tags["smx/reason"]) for r in res.run_requests
            if r.tags["smx/reason"] == "late-data"] == [(empty.strftime(FMT), "late-data")]
    result = _materialize(scenario, empty)
    meta = result.asset_materializations_for_node("scores")[0].metadata
    assert meta["readings_in_window"].value == len(ids) and meta["buckets_without_readings"].value == 0
    assert meta["predictions_written"].value > 0
    assert len(_table(scenario, "predictions")) == meta["predictions_written"].value
