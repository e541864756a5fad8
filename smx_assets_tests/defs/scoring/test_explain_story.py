"""From an alert to its story, on real stores and the real ``smx`` entry point: the farm named
with every cow (``smx alerts``, ``alerts_report``, ``smx explain``, the plot's title), explain's
readable story before its JSON (``--json`` alone), and no library INFO lines without ``-v``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain.features.pipeline import FEATURE_COLUMNS
from smx_assets.domain.time_grid import BUCKET
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario

pytestmark = pytest.mark.slow  # ~1 min: a demo-sized herd scored, then smx alerts/explain

FMT = "%Y-%m-%d-%H:%M"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """25 cows on two farms, day 12 scored as one range run by the rule baselines (alerts raised)."""
    with rule_baseline_scenario(tmp_path_factory.mktemp("story"), n_animals=25, days=14, feature_days=(10, 13)) as sc:
        first, last = sc.day(12), sc.day(13) - BUCKET
        result = dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources,
                                tags={"dagster/asset_partition_range_start": first.strftime(FMT),
                                      "dagster/asset_partition_range_end": last.strftime(FMT)})
        assert result.success
        yield sc


def _env(sc: Scenario) -> dict[str, str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_")) and k != "DAGSTER_HOME"}
    return {**base, "SMX_HOME": str(sc.root), "DAGSTER_HOME": str(sc.root),
            "MLFLOW_TRACKING_URI": sc.resources["mlflow"].tracking_uri, "SMX_HERD_DB_URL": sc.herd_db.url,
            "SMX_SENSOR_STORE_URL": sc.sensor_store.url,
            "SMX_FEATURES_PATH": sc.resources["feature_store"].base_path}


def _smx(sc: Scenario, *args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "smx_assets.cli", *args], env=_env(sc), cwd=sc.root,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return p


def _alerts(sc: Scenario) -> pd.DataFrame:
    with sc.herd_db.engine().connect() as conn:
        return pd.read_sql_query(sa.text(
            "SELECT al.id, al.animal_id, al.use_case, al.bucket_start, al.threshold, f.name AS farm, "
            "COALESCE(an.cow_number, an.ear_tag) AS cow FROM alerts al JOIN animals an ON an.id = al.animal_id "
            "JOIN farms f ON f.id = an.farm_id ORDER BY al.id"), conn)


def test_smx_alerts_names_the_farm_of_every_cow_and_prints_no_library_info(scenario: Scenario) -> None:
    alerts = _alerts(scenario)
    assert len(alerts) > 0 and alerts["farm"].nunique() >= 1
    p = _smx(scenario, "alerts", "--csv")
    listed = pd.read_csv(__import__("io").StringIO(p.stdout), dtype=str)
    assert list(listed.columns[:2]) == ["farm", "cow_number"]
    assert sorted(zip(listed["farm"], listed["cow_number"])) == sorted(zip(alerts["farm"], alerts["cow"]))
    # standard error: the command's own summary line, no alembic "Context impl" / INFO lines
    assert p.stderr.strip().splitlines() == [f"smx alerts: {len(alerts)} alerts from the start to now ("
                                             + p.stderr.split("(", 1)[1].strip()]
    assert "alembic" not in p.stderr and " INFO " not in p.stderr
    verbose = _smx(scenario, "-v", "alerts")
    # -v shows the libraries' lines (alembic's when it migrates; filelock's, sqlalchemy's)
    assert " INFO " in verbose.stderr and " DEBUG " in verbose.stderr and "smx_assets" in verbose.stderr


def test_explain_prints_the_story_then_the_json(scenario: Scenario, tmp_path: Path) -> None:
    alerts = _alerts(scenario)
    a = alerts.iloc[0]
    png = tmp_path / "alert.png"
    p = _smx(scenario, "explain", str(int(a["id"])), "--plot", str(png))
    assert p.stderr == "", p.stderr  # no alembic or MLflow INFO lines
    text, marker, rest = p.stdout.partition("JSON (smx explain --json prints it alone):\n")
    assert marker, p.stdout[:2000]
    doc = json.loads(rest)
    lines = text.splitlines()
    who = f"cow {a['cow']} of farm {a['farm']} (animal {int(a['animal_id'])})"
    assert lines[0] == f"Alert {int(a['id'])}: {a['use_case']} for {who}"
    heads = ["What the cow did", "What the model saw", "Why it alerted", "Lineage"]
    at = [next(i for i, line in enumerate(lines) if line.startswith(h)) for h in heads]
    assert at == sorted(at), at  # the story's four parts, in this order, before the JSON
    assert f"threshold {float(a['threshold']):.3f}" in text and doc["alert"]["model_name"] in text

    story = doc["story"]
    # What the cow did: figures from her own readings (independently recomputed here).
    bucket = pd.Timestamp(a["bucket_start"], tz="UTC")
    readings = scenario.sensor_store.open().read_bolus(bucket - pd.Timedelta(hours=2) + BUCKET, bucket + BUCKET,
                                                       [int(a["animal_id"])])
    assert story["cow_did"]["activity"]["mean"] == pytest.approx(float(readings["activity"].mean()))
    assert story["cow_did"]["activity"]["usual_mean"] is not None
    # What the model saw: the model's own inputs, against the rest of the herd in that bucket.
    saw = story["model_saw"]
    assert 0 < saw["herd_animals"] < 25 and 0 < len(saw["top"]) <= 5
    for row in saw["top"]:
        assert row["feature"] in FEATURE_COLUMNS
        assert row["value"] == pytest.approx(float(doc["features_on_alert"][row["feature"]]))
        assert row["feature"] in text
    # Why: the alert bucket ends a run of buckets at/above the threshold at least the policy's length.
    policy = use_case(a["use_case"]).alert_policy
    assert story["why"]["buckets_above"] >= policy.min_consecutive
    assert pd.Timestamp(story["why"]["above_since"]) <= bucket
    assert story["why"]["refractory_hours"] == policy.refractory / pd.Timedelta(hours=1)
    # The plot's title names the farm as well as the cow.
    assert f"cow {a['cow']} of farm {a['farm']}" in doc["plot"]["title"] and png.stat().st_size > 30_000

    alone = _smx(scenario, "explain", str(int(a["id"])), "--json")
    assert json.loads(alone.stdout)["story"] == story  # --json: the JSON alone, whole


def test_alerts_report_names_the_farm(scenario: Scenario) -> None:
    from smx_assets.defs.monitoring.assets import alerts_report

    alerts = _alerts(scenario)
    instance = dg.DagsterInstance.ephemeral()
    day = scenario.day(12).strftime("%Y-%m-%d")
    assert dg.materialize([alerts_report], resources={"herd_db": scenario.herd_db}, partition_key=day,
                          instance=instance).success
    md = instance.fetch_materializations(dg.AssetKey("alerts_report"), limit=1).records[0].asset_materialization.metadata
    table = md["report"].value.splitlines()
    assert table[0].startswith("| alert | farm | cow |")
    for r in alerts.itertuples():
        assert any(line.startswith(f"| {r.id} | {r.farm} | {r.cow} |") for line in table[2:]), r
