"""Retro-scoring (`smx score --from --to`, ``retro_scoring_job``) on real stores: the same
results as the ten-minute runs, and history of any date (2019) without a partition for it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets import cli
from smx_assets.commands.score import ScoreError, score_range
from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.partitions import WINDOWS, daily_partitions, ten_minute_partitions
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.partition_window import partition_windows
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.loader import load
from smx_assets.domain.time_grid import BUCKET
from smx_assets.resources import FeatureStoreResource, HerdDbResource, SensorStoreResource
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario
from smx_assets_tests.score_tables import clear_scores, stored_scores

pytestmark = pytest.mark.slow  # ~1 min: retro-scoring against ten-minute runs

FMT = "%Y-%m-%d-%H:%M"
KEY = ["use_case", "animal_id", "bucket_start"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    with rule_baseline_scenario(tmp_path_factory.mktemp("retro"), n_animals=25, days=14, feature_days=(11, 11)) as sc:
        yield sc


def _tables(res: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stored scores, alerts) of the resources' stores, naive UTC bucket starts."""
    engine = res["herd_db"].engine()
    preds = stored_scores(engine, res["feature_store"].base_path)
    with engine.connect() as conn:
        alerts = pd.read_sql_query(sa.text("SELECT * FROM alerts"), conn)
    alerts["bucket_start"] = pd.to_datetime(alerts["bucket_start"])
    return preds, alerts


def _clear(sc: Scenario) -> None:
    engine = sc.herd_db.engine()
    with engine.begin() as conn:
        for t in ("feedback", "alerts"):
            conn.execute(sa.text(f"DELETE FROM {t}"))
    clear_scores(engine, sc.resources["feature_store"].base_path)


def _ten_minute(sc: Scenario, first: pd.Timestamp, last: pd.Timestamp | None = None) -> None:
    kwargs: dict[str, object] = {"partition_key": first.strftime(FMT)} if last is None else {
        "tags": {"dagster/asset_partition_range_start": first.strftime(FMT),
                 "dagster/asset_partition_range_end": last.strftime(FMT)}}
    assert dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources, **kwargs).success


def test_retro_run_equals_ten_minute_runs(scenario: Scenario) -> None:
    """Days 12-13 (a day boundary inside) retro-scored in one run equal the ten-minute runs of
    the same buckets: a ten-minute range run (itself held equal to bucket-by-bucket runs in
    test_scores) over all 288 buckets and two single-bucket runs, scores and alerts."""
    files = FeatureFiles(scenario.resources["feature_store"].base_path)
    first, last = scenario.day(12), scenario.day(14) - BUCKET
    assert not files.exists("sensor_baselines", scenario.day(12))  # retro computes them first

    _clear(scenario)
    summary = score_range(first.date(), scenario.day(13).date(), resources=scenario.resources,
                          instance=dg.DagsterInstance.ephemeral())
    retro, retro_alerts = _tables(scenario.resources)
    assert summary.days_scored == 2 and summary.buckets_scored == 288
    assert summary.baselines_computed_days == 2 and files.exists("sensor_baselines", scenario.day(13))
    assert summary.predictions_written == len(retro) > 0
    assert retro["partition_key"].str.contains(r"\.\.").all()  # the day's range, as backfills label it
    assert retro["dagster_run_id"].eq(summary.run_id).all()

    _clear(scenario)
    _ten_minute(scenario, first, last)
    ranged, ranged_alerts = _tables(scenario.resources)
    merged = retro.merge(ranged, on=KEY, suffixes=("_retro", "_ten"), validate="one_to_one")
    assert len(merged) == len(retro) == len(ranged)
    assert (merged["score_retro"] - merged["score_ten"]).abs().max() < 1e-9
    assert len(retro_alerts) > 0  # rule baselines raise some alerts on 25 cows over two days
    pd.testing.assert_frame_equal(retro_alerts[KEY + ["score"]].sort_values(KEY).reset_index(drop=True),
                                  ranged_alerts[KEY + ["score"]].sort_values(KEY).reset_index(drop=True))

    _clear(scenario)
    picks = [scenario.day(13), scenario.day(13) + pd.Timedelta(hours=17)]
    for bucket in picks:
        _ten_minute(scenario, bucket)
    single, _ = _tables(scenario.resources)
    merged = single.merge(retro, on=KEY, suffixes=("_ten", "_retro"), validate="one_to_one")
    assert len(merged) == len(single) == len(retro[retro["bucket_start"].isin([p.tz_localize(None) for p in picks])])
    assert (merged["score_ten"] - merged["score_retro"]).abs().max() < 1e-9


def test_2019_history_is_scored_without_any_partition_for_it(scenario: Scenario, tmp_path: Path) -> None:
    """A herd from March 2019 (like the real exports) loaded into its own stores: retro-scoring
    computes its baselines and scores it; no partition definition reaches back to 2019."""
    start = dt.date(2019, 3, 1)
    assert daily_partitions.start.date() > start and ten_minute_partitions.start.date() > start
    herd = simulate(SimConfig(n_animals=8, days=13, seed=3, start=start))
    res = {
        "herd_db": HerdDbResource(url=f"sqlite:///{tmp_path / 'herd.db'}"),
        "sensor_store": SensorStoreResource(url=f"sqlite:///{tmp_path / 'sensors.db'}"),
        "feature_store": FeatureStoreResource(base_path=str(tmp_path / "features")),
        "mlflow": scenario.resources["mlflow"],
    }
    upgrade_herd_db(res["herd_db"].url)  # the start-up step: resources only check the schema
    load(herd, res["herd_db"].engine(), res["sensor_store"].open())
    summary = score_range("2019-03-11", "2019-03-12", resources=res, instance=dg.DagsterInstance.ephemeral(),
                          use_cases=["heat", "fever"])
    preds, _ = _tables(res)
    assert summary.days_scored == 2 and summary.buckets_scored == 288 and summary.animals_scored >= 6
    assert set(preds["use_case"]) == {"heat", "fever"}
    assert preds["bucket_start"].min() == pd.Timestamp("2019-03-11")
    assert preds["bucket_start"].max() == pd.Timestamp("2019-03-12 23:50")
    assert FeatureFiles(str(tmp_path / "features")).exists("sensor_baselines", "2019-03-12")
    # Idempotent: a rerun replaces, never duplicates.
    again = score_range("2019-03-11", "2019-03-12", resources=res, instance=dg.DagsterInstance.ephemeral(),
                        use_cases=["heat", "fever"])
    preds2, _ = _tables(res)
    assert again.baselines_computed_days == 0 and len(preds2) == len(preds)


@pytest.mark.parametrize(("argv", "needle"), [
    (["score", "--from", "2019-03-12", "--to", "2019-03-11"], "is before --from"),
    (["score", "--from", "2099-01-01", "--to", "2099-01-02"], "only past buckets can be scored"),
    (["score", "--from", "2019-13-01", "--to", "2019-03-11"], "is not a date"),
])
def test_unscoreable_ranges_give_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert needle in err[-1] and "Traceback" not in "\n".join(err)


def test_unknown_use_case_is_a_one_line_failure(scenario: Scenario) -> None:
    with pytest.raises(ScoreError, match="unknown use case"):
        score_range(scenario.day(12).date(), scenario.day(12).date(), use_cases=["nope"],
                    resources=scenario.resources, instance=dg.DagsterInstance.ephemeral())


def test_windows_stay_bounded_over_years() -> None:
    """The ten-minute set stays under 30,000 keys today and three years on with the defaults."""
    for years in (0, 3, 10):
        now = dt.datetime(2026, 12, 1, 23, 55, tzinfo=dt.timezone.utc) + dt.timedelta(days=365 * years)
        w = partition_windows(now, 90, 730)
        assert 90 * 144 <= w.ten_minute_keys(now) < 30_000
        assert w.daily_keys(now) == 730 and w.daily_start <= w.ten_minute_start
    floor = dt.date(2026, 11, 20)  # a deployment that started recently lists no days before its data
    w = partition_windows(dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), 90, 730, floor)
    assert w.ten_minute_start == w.daily_start == floor
    assert WINDOWS.daily_start <= WINDOWS.ten_minute_start
