"""Sharded scoring (``SMX_SCORING_SHARDS``) on real stores with real Dagster materialisations.

A simulated herd of eight farms (all four shards of 4 hold farms): a bucket and a day scored as
four shard runs give exactly the predictions, alerts and stored feature vectors of one unsharded
run; a shard's run replaces its own rows only; the sensor asks for one run per shard and bucket.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring import sensors as scoring_sensors
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain.features.storage import SCORED
from smx_assets.domain.scoring.shards import farm_shard
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario
from smx_assets_tests.score_tables import clear_scores, stored_scores

FMT = "%Y-%m-%d-%H:%M"
N_ANIMALS, N_FARMS, SHARDS = 40, 8, 4
KEY = ["use_case", "model_name", "model_version", "shadow", "animal_id", "bucket_start"]
RUN_SPECIFIC = ["id", "lineage_id", "shard", "dagster_run_id", "scored_at", "created_at"]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    with rule_baseline_scenario(tmp_path_factory.mktemp("sharded"), n_animals=N_ANIMALS, days=14,
                                feature_days=(10, 13), n_farms=N_FARMS) as sc:
        yield sc


def _materialize(sc: Scenario, first: pd.Timestamp, last: pd.Timestamp | None, shard: int = -1,
                 shards: int = 1) -> dg.ExecuteInProcessResult:
    kwargs: dict[str, object] = {}
    if last is None:
        kwargs["partition_key"] = first.strftime(FMT)
    else:
        kwargs["tags"] = {"dagster/asset_partition_range_start": first.strftime(FMT),
                          "dagster/asset_partition_range_end": last.strftime(FMT)}
    result = dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources,
                            run_config={"ops": {"scores": {"config": {"shard": shard, "shards": shards}}}},
                            **kwargs)
    assert result.success
    return result


def _table(sc: Scenario, name: str) -> pd.DataFrame:
    if name == "predictions":  # the score store, read back as the old table looked
        return stored_scores(sc.herd_db.engine(), sc.resources["feature_store"].base_path)
    with sc.herd_db.engine().connect() as conn:
        frame = pd.read_sql_query(sa.text(f"SELECT * FROM {name}"), conn)
    if "shadow" in frame:
        frame["shadow"] = frame["shadow"].astype(bool)
    return frame


def _comparable(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    out = frame.drop(columns=[c for c in RUN_SPECIFIC if c in frame.columns])
    # a shard writes its vectors to its own file of the bucket: HHMM.shard-k-of-N.parquet
    out["feature_ref"] = out["feature_ref"].str.replace(r"\.shard-\d+-of-\d+\.parquet", ".parquet", regex=True)
    return out.sort_values(key).reset_index(drop=True)


def _clear(sc: Scenario) -> None:
    with sc.herd_db.engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM alerts"))
    clear_scores(sc.herd_db.engine(), sc.resources["feature_store"].base_path)


def _farm_of(sc: Scenario) -> dict[int, int]:
    with sc.herd_db.engine().connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, farm_id FROM animals")).all())


def _vectors(base: Path, day: pd.Timestamp, sharded: bool) -> pd.DataFrame:
    folder = base / SCORED / day.strftime("%Y-%m-%d")
    pattern = r"\d{4}\.shard-\d+-of-4\.parquet" if sharded else r"\d{4}\.parquet"
    files = sorted(p for p in folder.glob("*.parquet") if re.fullmatch(pattern, p.name))
    assert files
    frame = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    return frame.sort_values(["bucket_start", "animal_id"]).reset_index(drop=True)


def test_the_eight_farms_fill_all_four_shards(scenario: Scenario) -> None:
    farms = set(_farm_of(scenario).values())
    assert farms == set(range(1, N_FARMS + 1))
    assert {farm_shard(f, SHARDS) for f in farms} == set(range(SHARDS))


@pytest.mark.parametrize("span", ["bucket", "day"])
def test_four_shard_runs_equal_one_unsharded_run(scenario: Scenario, span: str) -> None:
    if span == "bucket":
        first, last = scenario.day(13) + pd.Timedelta(hours=12), None
    else:  # a day: alerts, refractory look-ups and the alert history all per shard
        first, last = scenario.day(12), scenario.day(13) - BUCKET
    features = Path(scenario.resources["feature_store"].base_path)
    _clear(scenario)
    whole = _materialize(scenario, first, last)
    preds_whole, alerts_whole = _table(scenario, "predictions"), _table(scenario, "alerts")
    vectors_whole = _vectors(features, first, sharded=False)
    _clear(scenario)
    runs = [_materialize(scenario, first, last, shard=k, shards=SHARDS) for k in range(SHARDS)]
    preds, alerts = _table(scenario, "predictions"), _table(scenario, "alerts")

    assert len(preds_whole) > 0 and len(preds) == len(preds_whole)
    pd.testing.assert_frame_equal(_comparable(preds_whole, KEY), _comparable(preds, KEY))
    pd.testing.assert_frame_equal(_comparable(alerts_whole, KEY[:1] + KEY[4:]),
                                  _comparable(alerts, KEY[:1] + KEY[4:]))
    if span == "day":
        assert len(alerts) > 0  # the comparison covers real alerts
    pd.testing.assert_frame_equal(vectors_whole, _vectors(features, first, sharded=True))
    # each shard run wrote exactly its farms' animals
    farm_of = _farm_of(scenario)
    by_run = {r.run_id: k for k, r in enumerate(runs)}
    assert set(preds["dagster_run_id"]) == set(by_run)
    shard_of_row = preds["animal_id"].map(lambda a: farm_shard(farm_of[int(a)], SHARDS))
    assert (shard_of_row == preds["dagster_run_id"].map(by_run)).all()
    metas = [r.asset_materializations_for_node("scores")[0].metadata for r in runs]
    total = "animals_scored" if last is None else "run_animals_scored"
    whole_meta = whole.asset_materializations_for_node("scores")[0].metadata
    assert sum(m[total].value for m in metas) == whole_meta[total].value
    assert [m["shard"].value for m in metas] == [f"{k} of {SHARDS}" for k in range(SHARDS)]


def test_a_shard_run_replaces_only_its_own_rows(scenario: Scenario) -> None:
    bucket = scenario.day(13) + pd.Timedelta(hours=9)
    _clear(scenario)
    whole = _materialize(scenario, bucket, None)
    before = _table(scenario, "predictions")
    again = _materialize(scenario, bucket, None, shard=2, shards=SHARDS)
    after = _table(scenario, "predictions")
    farm_of = _farm_of(scenario)
    mine = after["animal_id"].map(lambda a: farm_shard(farm_of[int(a)], SHARDS) == 2)
    assert 0 < mine.sum() < len(after) and len(after) == len(before)
    # the other shards' rows are the very rows the unsharded run wrote (same lineage, same run)
    others_before = before[~before["animal_id"].map(lambda a: farm_shard(farm_of[int(a)], SHARDS) == 2)]
    pd.testing.assert_frame_equal(after[~mine].sort_values(KEY).reset_index(drop=True),
                                  others_before.sort_values(KEY).reset_index(drop=True))
    assert set(after.loc[~mine, "dagster_run_id"]) == {whole.run_id}
    # shard 2's rows were replaced by the shard run (new rows, one per model, animal and bucket)
    assert set(after.loc[mine, "dagster_run_id"]) == {again.run_id}
    assert not after.duplicated(KEY).any()
    assert set(after.loc[mine, "lineage_id"]).isdisjoint(set(before["lineage_id"]))


def _tick(sc: Scenario, now: pd.Timestamp, cursor: str | None, monkeypatch: pytest.MonkeyPatch) -> dg.SensorResult:
    monkeypatch.setattr(scoring_sensors, "utc_now", lambda: now)
    return scoring_sensors.scoring_sensor(dg.build_sensor_context(
        cursor=cursor, resources={"sensor_store": sc.sensor_store, "mlflow": sc.resources["mlflow"]}))


def _without_pins(tags: dict[str, str]) -> dict[str, str]:
    """A request's tags but the sensor's model versions (``smx/models``, tested on their own)."""
    assert "smx/models" in tags
    return {k: v for k, v in tags.items() if k != "smx/models"}


def test_sensor_requests_one_run_per_shard_and_bucket(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    # After the simulated window: every simulated reading has arrived by the sensor's clock.
    t0 = scenario.day(14) + pd.Timedelta(hours=3)
    one = _tick(scenario, t0 + pd.Timedelta(minutes=15), None, monkeypatch)
    assert [(r.run_key, r.partition_key) for r in one.run_requests] == [
        (f"scores:{t0.isoformat()}:new", t0.strftime(FMT))]  # the unsharded run key of before
    assert _without_pins(one.run_requests[0].tags) == {"smx/reason": "new", "dagster/priority": "5",
                                     "smx/scoring_key": t0.strftime(FMT)}
    assert not one.run_requests[0].run_config  # an unsharded run: the asset's defaults

    monkeypatch.setenv("SMX_SCORING_SHARDS", str(SHARDS))
    assert _tick(scenario, t0 + pd.Timedelta(minutes=16), one.cursor, monkeypatch).run_requests == []
    now = t0 + pd.Timedelta(minutes=35)
    res = _tick(scenario, now, one.cursor, monkeypatch)
    assert len(res.run_requests) == 2 * SHARDS
    assert len({r.run_key for r in res.run_requests}) == 2 * SHARDS
    # every run of the tick scores with the same versions, resolved once by the sensor
    assert len({r.tags["smx/models"] for r in res.run_requests}) == 1
    newest, backlog = t0 + 2 * BUCKET, t0 + BUCKET
    # Newest bucket first, one run per shard at priority 5 ...
    for k, r in enumerate(res.run_requests[:SHARDS]):
        assert r.partition_key == newest.strftime(FMT)
        assert r.run_key == f"scores:{newest.isoformat()}:new/shard-{k}-of-{SHARDS}"
        assert _without_pins(r.tags) == {"smx/reason": "new", "dagster/priority": "5", "smx/shard": str(k),
                          "smx/shards": str(SHARDS), "smx/scoring_key": f"{newest.strftime(FMT)}/{k}"}
        assert r.run_config == {"ops": {"scores": {"config": {"shard": k, "shards": SHARDS}}}}
    # ... the bucket behind it in a ranged catch-up run per shard, behind any new bucket (priority 0).
    span = f"{backlog.strftime(FMT)}..{backlog.strftime(FMT)}"
    for k, r in enumerate(res.run_requests[SHARDS:]):
        assert r.partition_key is None
        assert r.run_key.startswith(f"scores:{backlog.isoformat()}..{backlog.isoformat()}:catch-up@")
        assert r.run_key.endswith(f"/shard-{k}-of-{SHARDS}")
        assert r.tags["smx/reason"] == "catch-up" and r.tags["dagster/priority"] == "0"
        assert (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) == (
            backlog.strftime(FMT), backlog.strftime(FMT))
        assert r.tags["smx/shard"] == str(k) and r.tags["smx/scoring_key"] == f"{span}/{k}"
        assert r.run_config == {"ops": {"scores": {"config": {"shard": k, "shards": SHARDS}}}}

    # A late reading re-scores its bucket once per shard, the run keys still from the bucket's data.
    late_bucket = t0 - pd.Timedelta(hours=1)
    scenario.sensor_store.open().write_bolus(pd.DataFrame({
        "animal_id": [1], "ts": [late_bucket + pd.Timedelta(minutes=3)], "temp_c": [39.1], "activity": [30.0],
        "ph": [float("nan")], "received_at": [now + pd.Timedelta(minutes=1)]}))
    later = _tick(scenario, now + pd.Timedelta(minutes=3), res.cursor, monkeypatch)
    rescores = [r for r in later.run_requests if r.tags["smx/reason"] == "late-data"]
    assert [(r.partition_key, r.tags["smx/shard"]) for r in rescores] == [
        (late_bucket.strftime(FMT), str(k)) for k in range(SHARDS)]
    assert len({r.run_key for r in rescores}) == SHARDS
    assert all(re.fullmatch(rf"scores:{re.escape(late_bucket.isoformat())}:1@.+/shard-{k}-of-4", r.run_key)
               for k, r in enumerate(rescores))
    assert _tick(scenario, now + pd.Timedelta(minutes=4), later.cursor, monkeypatch).run_requests == []
