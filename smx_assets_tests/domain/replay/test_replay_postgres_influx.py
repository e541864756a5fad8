"""``smx replay`` on PostgreSQL (herd DB) + InfluxDB (sensor store): a real Dagster range run,
alerts that replay identically, a reading rewritten in place (same received_at) found, a reading
delivered late left out and counted."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from smx_assets.devtools.scratch_databases import scratch_database
from smx_assets.domain.replay import alert_target
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.conftest import PG_ADMIN_URL
from smx_assets_tests.domain.replay.helpers import alerts, replayer, score_range, smx_replay
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario

pytestmark = pytest.mark.slow  # ~1 min: alerts replayed on PostgreSQL and InfluxDB


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, influx_server) -> Scenario:  # type: ignore[no-untyped-def]
    with scratch_database(PG_ADMIN_URL, prefix="smx_test") as pg:
        store_url = influx_server.url_with(database=f"replay_{uuid.uuid4().hex[:8]}")
        with rule_baseline_scenario(tmp_path_factory.mktemp("replay_pg"), n_animals=16, days=14, feature_days=(10, 13),
                                    herd_db_url=pg, sensor_store_url=store_url) as sc:
            assert sc.herd_db.engine().dialect.name == "postgresql"
            assert type(sc.sensor_store.open()).__name__ == "InfluxSensorStore"
            score_range(sc, sc.day(12), sc.day(13) - BUCKET)
            yield sc


def test_alerts_replay_identically_on_postgres_and_influxdb(scenario: Scenario,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    frame = alerts(scenario)
    assert len(frame) >= 1
    rp = replayer(scenario)
    for alert_id in frame["id"].head(3):
        doc = rp.replay(alert_target(rp.engine, rp.scores, int(alert_id))).as_dict()
        assert doc["identical"], doc["first_difference"]
        assert doc["inputs"]["window_readings_used"] > 100 and doc["inputs"]["baseline_readings_used"] > 1000
        assert doc["alert"]["raised_again"]
    rc, doc, err = smx_replay(scenario, capsys, str(int(frame["id"].iloc[0])), "--json")
    assert rc == 0 and doc["identical"] is True, err
    rc, doc, err = smx_replay(scenario, capsys, "--from", str(scenario.day(12).date()), "--to",
                              str(scenario.day(13).date()), "--sample", "5", "--seed", "2", "--json")
    assert rc == 0, err
    assert (doc["replayed"], doc["identical"], doc["different"], doc["skipped"]) == (5, 5, 0, 0)


def test_a_reading_rewritten_in_place_differs_and_a_late_one_is_counted(
        scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    alert = alerts(scenario).iloc[0]
    animal = int(alert["animal_id"])
    bucket = pd.Timestamp(alert["bucket_start"], tz="UTC")
    store = scenario.sensor_store.open()
    original = store.read_bolus_received(bucket - pd.Timedelta(hours=3), bucket + BUCKET, [animal])
    assert len(original) > 10
    edited = original.assign(temp_c=original["temp_c"] + 0.6, activity=original["activity"] * 1.4)
    store.write_bolus(edited)  # same points, same received_at: an edit, not a late delivery
    try:
        rc, doc, err = smx_replay(scenario, capsys, str(int(alert["id"])), "--json")
        assert rc == 1, err
        cols = {d["column"] for d in doc["features"]["differing"]}
        assert {"temp_raw", "activity", "temp_clean_mean_2h"} <= cols
        assert doc["inputs"]["window_readings_received_later"] == 0
    finally:
        store.write_bolus(original)
    rc, doc, err = smx_replay(scenario, capsys, str(int(alert["id"])), "--json")
    assert rc == 0 and doc["identical"] is True, err

    late = pd.DataFrame({"animal_id": [animal], "ts": [bucket - pd.Timedelta(minutes=55)], "temp_c": [41.9],
                         "activity": [95.0], "ph": [float("nan")], "received_at": [pd.Timestamp.now(tz="UTC")]})
    store.write_bolus(late)  # a point the scoring run never had (its own timestamp)
    rp = replayer(scenario)
    doc = rp.replay(alert_target(rp.engine, rp.scores, int(alert["id"]))).as_dict()
    assert doc["identical"] is True, doc["first_difference"]
    assert doc["inputs"]["window_readings_received_later"] == 1
