"""``smx replay`` on the embedded default: real Dagster scoring runs (SQLite herd DB and sensor
store, MLflow store, Parquet score store), then replays that must agree bit for bit, and the
changes a replay must notice (a reading edited in place) or must not (a reading delivered late)."""

from __future__ import annotations

import json
import sqlite3
import time

import dagster as dg
import pandas as pd
import pytest

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain import model_registry
from smx_assets.domain.features.pipeline import FEATURE_COLUMNS
from smx_assets.domain.replay import alert_target, replay_all, sample_scores
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.domain.replay.helpers import alerts, replayer, score_range, smx_env, smx_replay
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    with rule_baseline_scenario(tmp_path_factory.mktemp("replay"), n_animals=25, days=14, feature_days=(10, 13)) as sc:
        score_range(sc, sc.day(12), sc.day(13) - BUCKET)
        yield sc


def test_alerts_replay_identically(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    frame = alerts(scenario)
    assert len(frame) >= 2
    rp = replayer(scenario)
    t0 = time.perf_counter()
    for alert_id in frame["id"].head(5):
        report = rp.replay(alert_target(rp.engine, rp.scores, int(alert_id)))
        doc = report.as_dict()
        assert doc["identical"], json.dumps({k: doc[k] for k in ("first_difference", "features", "score", "notes")},
                                            default=str)[:3000]
        assert doc["features"]["columns_compared"] >= len(FEATURE_COLUMNS)
        assert "stored vector" in doc["features"]["compared_with"]
        assert doc["inputs"]["window_readings_used"] > 100
        assert doc["inputs"]["baseline_readings_used"] > 1000
        assert doc["score"]["replayed"] == doc["score"]["stored"]
        assert doc["alert"]["raised_again"]
        assert doc["known_at_source"].startswith("scoring_lineage")
    print(f"5 alert replays: {time.perf_counter() - t0:.2f} s")
    rc, doc, err = smx_replay(scenario, capsys, str(int(frame["id"].iloc[0])), "--json")
    assert rc == 0, err
    assert doc["identical"] is True and doc["alert_id"] == int(frame["id"].iloc[0])
    rc, text, _err = smx_replay(scenario, capsys, str(int(frame["id"].iloc[0])))
    assert rc == 0 and text.splitlines()[0].endswith(": identical")


def _first_alert(sc: Scenario) -> pd.Series:
    """The first alert of the module's day-12 run (later tests add runs of other days)."""
    frame = alerts(sc)
    day = pd.to_datetime(frame["bucket_start"]).dt.floor("D") == sc.day(12).tz_localize(None)
    return frame[day.to_numpy()].iloc[0]


def test_a_reading_raised_in_place_is_found_and_named(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's check by hand, as a test: raise temperature and activity of the first alert's
    cow in the 12 h before it directly in sensors.db (sqlite3, received_at untouched)."""
    alert = _first_alert(scenario)
    bucket = pd.Timestamp(alert["bucket_start"], tz="UTC")
    lo, hi = int((bucket - pd.Timedelta(hours=12)).timestamp()), int(bucket.timestamp()) + 600
    db = sqlite3.connect(scenario.root / "sensors.db")
    try:
        where = "WHERE animal_id = ? AND ts >= ? AND ts < ?"
        saved = db.execute(f"SELECT animal_id, ts, temp_c, activity FROM bolus_readings {where}",
                           (int(alert["animal_id"]), lo, hi)).fetchall()
        assert len(saved) > 50
        with db:
            db.execute(f"UPDATE bolus_readings SET temp_c = temp_c + 0.7, activity = activity * 1.5 {where}",
                       (int(alert["animal_id"]), lo, hi))
        rc, doc, err = smx_replay(scenario, capsys, str(int(alert["id"])), "--json")
        assert rc == 1, err
        assert doc["identical"] is False and doc["features"]["identical"] is False
        differing = {d["column"]: d for d in doc["features"]["differing"]}
        assert {"temp_raw", "temp_clean_mean_2h", "activity", "activity_mean_2h"} <= set(differing)
        assert differing["temp_raw"]["delta"] == pytest.approx(0.7, abs=1e-9)
        assert doc["first_difference"].startswith("features differ in")
        assert doc["inputs"]["window_readings_received_later"] == 0  # edited, not late: still read
        rc, text, _err = smx_replay(scenario, capsys, str(int(alert["id"])))
        assert rc == 1 and "DIFFERENT" in text.splitlines()[0] and "temp_raw" in text
    finally:
        with db:
            db.executemany("UPDATE bolus_readings SET temp_c = ?, activity = ? WHERE animal_id = ? AND ts = ?",
                           [(t, a, i, ts) for i, ts, t, a in saved])
        db.close()
    rc, doc, _err = smx_replay(scenario, capsys, str(int(alert["id"])), "--json")
    assert rc == 0 and doc["identical"] is True  # the stored values back: identical again


def test_a_reading_delivered_after_the_scoring_is_left_out_and_counted(scenario: Scenario) -> None:
    alert = _first_alert(scenario)
    bucket = pd.Timestamp(alert["bucket_start"], tz="UTC")
    store = scenario.sensor_store.open()
    late = pd.DataFrame({"animal_id": [int(alert["animal_id"])], "ts": [bucket - pd.Timedelta(hours=1, minutes=55)],
                         "temp_c": [41.5], "activity": [90.0], "ph": [float("nan")],
                         "received_at": [pd.Timestamp.now(tz="UTC")]})
    assert store.write_bolus(late) == 1  # a new (animal, ts): it did not exist when the bucket was scored
    try:
        rp = replayer(scenario)
        doc = rp.replay(alert_target(rp.engine, rp.scores, int(alert["id"]))).as_dict()
        assert doc["identical"] is True, doc["first_difference"]
        assert doc["inputs"]["window_readings_received_later"] == 1
        # read as if it had been there (no cut): the features would differ, so the cut is what keeps it identical
        assert store.read_bolus(late["ts"][0], late["ts"][0] + BUCKET, [int(alert["animal_id"])])["temp_c"].max() == 41.5
    finally:
        with sqlite3.connect(scenario.root / "sensors.db") as db:
            db.execute("DELETE FROM bolus_readings WHERE animal_id = ? AND ts = ?",
                       (int(alert["animal_id"]), int(late["ts"][0].timestamp())))


def test_sampled_scores_replay_identically_and_the_code_version_is_compared(
        scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    from smx_assets import settings

    day = scenario.day(13)
    settings.code_version.cache_clear()
    try:
        with smx_env(scenario, SMX_CODE_VERSION="replay-test-recorded"):
            settings.code_version.cache_clear()
            score_range(scenario, day, day + pd.Timedelta(hours=1) - BUCKET)  # a second run, other code version
    finally:
        settings.code_version.cache_clear()
    rp = replayer(scenario, code_version="replay-test-running")
    targets = sample_scores(rp.scores, day, day + pd.Timedelta(hours=1), 8, seed=3)
    assert len(targets) == 8 and {t.code_version for t in targets} == {"replay-test-recorded"}
    summary = replay_all(rp, targets)
    assert summary.identical == 8 and not summary.skipped, summary.first_difference()
    doc = summary.reports[0].as_dict()
    assert doc["code_version"] == {"recorded": "replay-test-recorded", "running": "replay-test-running", "same": False}
    assert any("code version differs" in n for n in doc["notes"])
    rc, text, err = smx_replay(scenario, capsys, "--from", str(scenario.day(12).date()), "--to", str(day.date()),
                               "--sample", "6", "--seed", "1")
    assert rc == 0, err
    assert text.strip().splitlines()[-1] == "smx replay: replayed 6, identical 6, different 0, skipped 0"


def test_bad_input_is_one_line_and_exit_2(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _doc, err = smx_replay(scenario, capsys, "987654", "--json")
    assert rc == 2 and err.count("\n") == 1 and err.startswith("smx replay: no alert with id 987654")
    rc, _doc, err = smx_replay(scenario, capsys, "--from", "2020-01-01", "--to", "2020-01-02")
    assert rc == 2 and err.count("\n") == 1 and "nothing to replay" in err
    rc, _doc, err = smx_replay(scenario, capsys)
    assert rc == 2 and err.count("\n") == 1


def test_a_deleted_model_version_gives_exit_2_in_one_line(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    """A new rule version (the fallback takes the newest) scores day 11; deleting it
    from the registry leaves its alerts unreplayable: one line, exit 2."""
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.use_cases.catalog import all_use_cases

    client = model_registry.configure(scenario.resources["mlflow"].tracking_uri)
    frame = FeatureFiles(scenario.resources["feature_store"].base_path).read("training_features", scenario.day(11))
    versions = {}
    for uc in all_use_cases():
        with model_registry.training_run(uc.experiment_name, run_name=f"{uc.name}-rule-v2") as run:
            model_registry.log_rule_model(uc.rule_baseline, frame)
        versions[uc.rule_model_name] = model_registry.register(run.info.run_id, uc.rule_model_name)
    score_range(scenario, scenario.day(11), scenario.day(12) - BUCKET)
    new = alerts(scenario)
    new = new[[versions.get(m) == str(v) for m, v in zip(new["model_name"], new["model_version"])]]
    assert len(new) > 0
    alert = new.iloc[0]
    client.delete_model_version(alert["model_name"], str(alert["model_version"]))
    rc, doc, err = smx_replay(scenario, capsys, str(int(alert["id"])), "--json")
    assert rc == 2 and doc == "" and err.count("\n") == 1
    assert err.startswith(f"smx replay: model {alert['model_name']} version {alert['model_version']} is no longer "
                          "in the registry")
    assert "Traceback" not in err


def test_alerts_list_their_ids_and_explain_names_the_replay(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from smx_assets.cli import main

    frame = alerts(scenario)
    capsys.readouterr()
    with smx_env(scenario):
        assert main(["alerts", "--csv"]) == 0
        csv = capsys.readouterr().out
        assert main(["alerts"]) == 0
        table = capsys.readouterr().out
        assert main(["explain", str(int(frame["id"].iloc[0]))]) == 0
        explained = capsys.readouterr().out
    listed = pd.read_csv(io.StringIO(csv))
    assert list(listed.columns)[-1] == "alert_id"
    assert sorted(listed["alert_id"]) == sorted(frame["id"].astype(int))
    assert table.splitlines()[0].split()[-1] == "alert_id"
    assert f"smx replay {int(frame['id'].iloc[0])}" in explained


def _audit(sc: Scenario, day: pd.Timestamp) -> tuple[dg.AssetCheckEvaluation, dict]:
    from smx_assets.defs.monitoring.replay_audit import replay_audit

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([replay_audit], resources=sc.resources, partition_key=day.strftime("%Y-%m-%d"),
                            instance=instance, run_config={"ops": {"replay_audit": {"config": {"sample_scores": 4}}}})
    assert result.success
    check = result.get_asset_check_evaluations()[0]
    md = instance.fetch_materializations(dg.AssetKey("replay_audit"), limit=1).records[0].asset_materialization.metadata
    return check, {k: getattr(v, "value", v) for k, v in md.items()}


def test_the_daily_audit_passes_fails_on_an_edit_and_warns_on_nothing(scenario: Scenario) -> None:
    frame = alerts(scenario)
    day = scenario.day(12)
    n_day = int((pd.to_datetime(frame["bucket_start"]).dt.floor("D") == day.tz_localize(None)).sum())
    check, md = _audit(scenario, day)
    assert check.passed, check.description
    assert md["alerts_replayed"] == n_day > 0 and md["scores_replayed"] == 4 and md["different"] == 0
    assert md["first_difference"] == "none"

    alert = _first_alert(scenario)
    bucket = pd.Timestamp(alert["bucket_start"], tz="UTC")
    with sqlite3.connect(scenario.root / "sensors.db") as db:
        ts, before = db.execute("SELECT ts, activity FROM bolus_readings WHERE animal_id = ? AND ts >= ? AND ts < ? "
                                "AND activity IS NOT NULL ORDER BY ts LIMIT 1",
                                (int(alert["animal_id"]), int(bucket.timestamp()) - 3600, int(bucket.timestamp()))
                                ).fetchone()
        db.execute("UPDATE bolus_readings SET activity = ? WHERE animal_id = ? AND ts = ?",
                   (before + 5.0, int(alert["animal_id"]), ts))
    try:
        check, md = _audit(scenario, day)
    finally:
        with sqlite3.connect(scenario.root / "sensors.db") as db:
            db.execute("UPDATE bolus_readings SET activity = ? WHERE animal_id = ? AND ts = ?",
                       (before, int(alert["animal_id"]), ts))
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["first_difference"].value.startswith(f"{day:%Y-%m-%d}: alert {int(alert['id'])}: features differ")
    assert md["different"] >= 1

    check, md = _audit(scenario, scenario.day(5))  # nothing scored that day
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert md["replayed"] == 0 and "nothing replayed" in check.description


def test_an_alert_older_than_the_readings_retention_says_readings_no_longer_kept(scenario: Scenario) -> None:
    from smx_assets.domain.replay import ReplayError, readings_kept_from

    alert = _first_alert(scenario)
    rp = replayer(scenario)
    bucket = pd.Timestamp(alert["bucket_start"], tz="UTC")
    rp.readings_kept_from = readings_kept_from(bucket + pd.Timedelta(days=48), 60)  # day 49 of 60 - 11: still kept
    assert rp.replay(alert_target(rp.engine, rp.scores, int(alert["id"]))).identical
    rp.readings_kept_from = readings_kept_from(bucket + pd.Timedelta(days=49), 60)  # its baselines. first day went
    with pytest.raises(ReplayError, match=r"^readings no longer kept: alert .* \(SMX_RETENTION_READINGS_DAYS\)$"):
        rp.replay(alert_target(rp.engine, rp.scores, int(alert["id"])))


def test_a_ten_minute_run_replays_identically(scenario: Scenario) -> None:
    """A one-bucket run (the scoring sensor's) computes one bucket for the whole herd: its scores
    replay bit for bit too."""
    bucket = scenario.day(13) + pd.Timedelta(hours=6)
    result = dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=scenario.resources,
                            partition_key=bucket.strftime("%Y-%m-%d-%H:%M"))
    assert result.success
    rp = replayer(scenario)
    targets = sample_scores(rp.scores, bucket, bucket + BUCKET, 6, seed=4, animal_pool=list(range(1, 40)))
    assert len(targets) == 6 and all(t.window_end - t.window_start == BUCKET for t in targets)
    summary = replay_all(rp, targets)
    assert summary.identical == 6, summary.first_difference()


def test_an_unreachable_sensor_store_is_one_line_and_exit_2(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    alert = _first_alert(scenario)
    rc, _doc, err = smx_replay(scenario, capsys, str(int(alert["id"])), "--json",
                               SMX_SENSOR_STORE_URL="postgresql+psycopg2://postgres@127.0.0.1:9/nowhere",
                               SMX_DB_CONNECT_TIMEOUT_S="2")
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith("smx replay: sensor store unreachable:") and "Traceback" not in err
