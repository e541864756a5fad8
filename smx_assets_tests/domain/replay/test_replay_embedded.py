"""``smx replay`` on the embedded default: real Dagster scoring runs (SQLite herd DB and sensor
store, MLflow store, Parquet score store), then replays that must agree bit for bit, and the
changes a replay must notice (a reading edited in place) or must not (a reading delivered late)."""

from __future__ import annotations

import json
import time

import pytest

from smx_assets.domain.features.pipeline import FEATURE_COLUMNS
from smx_assets.domain.replay import alert_target
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.domain.replay.helpers import alerts, replayer, score_range, smx_replay
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
