"""What a partition's page says is true, on real Dagster materialisations: a `scores` bucket's
own figures come first, a bucket without readings says so at the top, a re-scored bucket still
counts the alert an earlier run raised, and a check that could not judge says "not judged"
with the real reason."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.monitoring.assets import model_performance
from smx_assets.defs.scoring.assets import NO_READINGS, scores
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario

FMT = "%Y-%m-%d-%H:%M"
OWN_FIRST = ["status", "bucket", "readings_in_window", "animals_scored", "predictions_written", "alerts"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    with rule_baseline_scenario(tmp_path_factory.mktemp("pages"), n_animals=25, days=14, feature_days=(10, 13)) as sc:
        yield sc


def _run(sc: Scenario, instance: dg.DagsterInstance, first: pd.Timestamp, last: pd.Timestamp | None = None
         ) -> dg.ExecuteInProcessResult:
    kwargs: dict[str, object] = ({"partition_key": first.strftime(FMT)} if last is None else
                                 {"tags": {"dagster/asset_partition_range_start": first.strftime(FMT),
                                           "dagster/asset_partition_range_end": last.strftime(FMT)}})
    result = dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources, instance=instance,
                            **kwargs)
    assert result.success
    return result


def _page(instance: dg.DagsterInstance, bucket: pd.Timestamp) -> dict:
    """The newest materialisation of a bucket, as its partition page lists it (in order)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("scores"), asset_partitions=[bucket.strftime(FMT)]), limit=1).records
    return dict(records[0].asset_materialization.metadata)


def _alerts_by_bucket(sc: Scenario) -> pd.Series:
    with sc.herd_db.engine().connect() as conn:
        frame = pd.read_sql_query(sa.text("SELECT bucket_start, dagster_run_id FROM alerts"), conn)
    return pd.to_datetime(frame["bucket_start"]).dt.tz_localize("UTC").value_counts()


def test_a_range_runs_pages_show_each_buckets_own_figures_first_and_alerts_of_any_run(scenario: Scenario) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first, last = scenario.day(12), scenario.day(13) - BUCKET
    _run(scenario, instance, first, last)
    alerts = _alerts_by_bucket(scenario)
    assert len(alerts) > 0
    alerted = alerts.index[0]
    for bucket in (first, alerted, last):
        page = _page(instance, bucket)
        keys = list(page)
        assert keys[:len(OWN_FIRST)] == OWN_FIRST, keys[:10]
        assert keys.index("alerts_new_total") < min(i for i, k in enumerate(keys) if k.startswith("run_"))
        assert page["status"].value == "scored" and page["predictions_written"].value > 0
        assert page["alerts"].value == page["alerts_new_total"].value == int(alerts.get(bucket, 0))
        assert page["run_partition_range"].value == f"{first.strftime(FMT)}..{last.strftime(FMT)}"

    # A re-score of the alerted bucket raises nothing anew; its page still counts the bucket's alert.
    again = _run(scenario, instance, alerted).asset_materializations_for_node("scores")[0].metadata
    assert list(again)[:len(OWN_FIRST)] == OWN_FIRST
    assert again["alerts_new_total"].value == 0
    assert again["alerts"].value == int(alerts[alerted]) > 0
    assert sum(again[f"alerts_{uc}"].value for uc in ("heat", "calving", "fever")) == again["alerts"].value


def test_a_bucket_without_readings_says_so_at_the_top(scenario: Scenario) -> None:
    instance = dg.DagsterInstance.ephemeral()
    empty = scenario.day(14) + pd.Timedelta(hours=3)  # after the simulated window: no reading
    page = _run(scenario, instance, empty).asset_materializations_for_node("scores")[0].metadata
    keys = list(page)
    assert keys[:2] == ["status", "no_readings"], keys[:6]
    assert page["status"].value == NO_READINGS
    assert "without readings" in page["no_readings"].value and empty.strftime("%Y-%m-%d %H:%M") in page["no_readings"].value
    assert page["predictions_written"].value == 0 and page["buckets_scored"].value == 0
    # In a range, only the empty buckets say so; the scored ones say "scored".
    _run(scenario, instance, scenario.day(13) + pd.Timedelta(hours=23, minutes=40), scenario.day(14) + BUCKET)
    assert _page(instance, scenario.day(13) + pd.Timedelta(hours=23, minutes=50))["status"].value == "scored"
    last = _page(instance, scenario.day(14) + BUCKET)
    assert last["status"].value == NO_READINGS and list(last)[:2] == ["status", "no_readings"]


def test_model_performance_not_judged_says_why_while_scores_exist_outside_its_window(scenario: Scenario) -> None:
    instance = dg.DagsterInstance.ephemeral()
    _run(scenario, instance, scenario.day(12), scenario.day(13) - BUCKET)  # scores on day 12 only
    # Day 13's window ends 4 days earlier (labels need time to arrive): no score lies in it.
    result = dg.materialize([model_performance, *SOURCE_SPECS], selection=[model_performance],
                            resources=scenario.resources, instance=instance,
                            partition_key=scenario.day(13).strftime("%Y-%m-%d"))
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("not judged: "), check.description
    assert "nothing scored" not in check.description
    day12 = scenario.day(12).strftime("%Y-%m-%d")
    for uc in ("heat", "calving", "fever"):
        assert f"{uc}: no champion scores in the window" in check.description
    assert f"scores exist after it, {day12}.." in check.description  # the first scored day named
    assert list(check.metadata)[0] == "judgement" and check.metadata["judgement"].value == "not judged"
    page = result.asset_materializations_for_node("model_performance")[0].metadata
    assert page["status"].value.startswith("not judged: heat: no champion scores in the window")
