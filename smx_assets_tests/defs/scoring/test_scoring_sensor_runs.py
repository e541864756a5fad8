"""The scoring sensor against a real Dagster instance and real `scores` runs: late data is
scored exactly once while deliveries interleave with queued runs, and a ranged catch-up run
records what it read of each bucket."""

from __future__ import annotations

import uuid

import dagster as dg
import pandas as pd
import pytest

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring import sensors as scoring_sensors
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.scenario import Scenario, rule_baseline_scenario

FMT = "%Y-%m-%d-%H:%M"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    with rule_baseline_scenario(tmp_path_factory.mktemp("sensor_runs"), n_animals=12, days=14,
                                feature_days=(10, 13)) as sc:
        yield sc


def _tick(sc: Scenario, instance: dg.DagsterInstance, now: pd.Timestamp, cursor: str | None,
          monkeypatch: pytest.MonkeyPatch) -> dg.SensorResult:
    monkeypatch.setattr(scoring_sensors, "utc_now", lambda: now)
    return scoring_sensors.scoring_sensor(dg.build_sensor_context(
        cursor=cursor, instance=instance, resources={"sensor_store": sc.sensor_store, "mlflow": sc.resources["mlflow"]}))


def _queue(instance: dg.DagsterInstance, request: dg.RunRequest) -> str:
    """The run the daemon would create for a request, not started yet (NOT_STARTED: a QUEUED
    record needs a code-location origin this in-process test has not; both count as in flight)."""
    run_id = str(uuid.uuid4())
    tags = dict(request.tags)
    if request.partition_key:
        tags["dagster/partition"] = request.partition_key
    instance.add_run(dg.DagsterRun(job_name="scoring_job", run_id=run_id, status=dg.DagsterRunStatus.NOT_STARTED,
                                 tags=tags))
    return run_id


def _execute(sc: Scenario, instance: dg.DagsterInstance, queued_id: str, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """The queued run, executed now (in process, under a run id of its own: the queued record goes)."""
    # the tags the daemon's run would carry: the range of a catch-up run, the sensor's model pins
    tags = {k: v for k, v in request.tags.items() if k.startswith("dagster/asset_partition_range") or k == "smx/models"}
    kwargs: dict[str, object] = {"partition_key": request.partition_key, "tags": tags} if request.partition_key \
        else {"tags": tags}
    result = dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=sc.resources,
                            instance=instance, **kwargs)
    assert result.success
    instance.delete_run(queued_id)
    return result


def _deliver(sc: Scenario, bucket: pd.Timestamp, received_at: pd.Timestamp, n: int = 3) -> None:
    animals = [int(a) for a in sc.herd.animals["id"].iloc[:n]]
    sc.sensor_store.open().write_bolus(pd.DataFrame({
        "animal_id": animals, "ts": [bucket + pd.Timedelta(minutes=7, seconds=11)] * n,
        "temp_c": [39.1] * n, "activity": [21.0] * n, "ph": [float("nan")] * n, "received_at": [received_at] * n}))


def _late(res: dg.SensorResult) -> list[str]:
    return [r.tags["smx/scoring_key"] for r in res.run_requests if r.tags["smx/reason"] == "late-data"]


def _read(instance: dg.DagsterInstance, bucket: pd.Timestamp) -> dict[str, object]:
    rec = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("scores"), asset_partitions=[bucket.strftime(FMT)]), limit=1).records[0]
    md = rec.asset_materialization.metadata
    return {k: md[k].value for k in ("read_readings", "read_received_until")}


def test_deliveries_interleaved_with_queued_runs_are_scored_exactly_once(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = scenario
    t0 = sc.day(14) + pd.Timedelta(hours=1)  # after the simulated window: nothing else arrives
    with dg.DagsterInstance.ephemeral() as instance:
        now = t0 + pd.Timedelta(minutes=15)
        first = _tick(sc, instance, now, None, monkeypatch)
        [req] = first.run_requests
        assert (req.partition_key, req.tags["smx/reason"], req.tags["dagster/priority"]) == (t0.strftime(FMT), "new", "5")
        queued = _queue(instance, req)

        # 1. A delivery lands while the bucket's run waits in the queue: the run will read it.
        _deliver(sc, t0, now + pd.Timedelta(seconds=30))
        second = _tick(sc, instance, now + pd.Timedelta(minutes=1), first.cursor, monkeypatch)
        assert second.run_requests == []
        _execute(sc, instance, queued, req)
        assert _read(instance, t0)["read_received_until"] == (now + pd.Timedelta(seconds=30)).isoformat()
        # ... and it did, so nothing is re-scored (before: the "new" run and a late-data run read the same data)
        third = _tick(sc, instance, now + pd.Timedelta(minutes=2), second.cursor, monkeypatch)
        assert third.run_requests == []

        # 2. A delivery after the run read the bucket: re-scored once, with a key of that data.
        _deliver(sc, t0, now + pd.Timedelta(minutes=3), n=5)
        fourth = _tick(sc, instance, now + pd.Timedelta(minutes=4), third.cursor, monkeypatch)
        assert _late(fourth) == [t0.strftime(FMT)]
        rescore = fourth.run_requests[0]
        assert rescore.tags["dagster/priority"] == "3"
        queued = _queue(instance, rescore)
        # 3. another delivery while that re-score is queued: still one run, which reads both
        _deliver(sc, t0, now + pd.Timedelta(minutes=4, seconds=30), n=7)
        fifth = _tick(sc, instance, now + pd.Timedelta(minutes=5), fourth.cursor, monkeypatch)
        assert fifth.run_requests == []
        _execute(sc, instance, queued, rescore)
        sixth = _tick(sc, instance, now + pd.Timedelta(minutes=6), fifth.cursor, monkeypatch)
        assert sixth.run_requests == []
        read = _read(instance, t0)
        assert read["read_received_until"] == (now + pd.Timedelta(minutes=4, seconds=30)).isoformat()
        runs = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("scores"), asset_partitions=[t0.strftime(FMT)]), limit=10).records
        assert len(runs) == 2  # three deliveries, two runs, each on data the other had not read
        reads = {(r.asset_materialization.metadata["read_readings"].value,
                  r.asset_materialization.metadata["read_received_until"].value) for r in runs}
        assert len(reads) == 2


def test_a_ranged_catch_up_run_records_each_buckets_read_and_is_not_repeated(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = scenario
    t0 = sc.day(14) + pd.Timedelta(hours=5)
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(sc, instance, t0 + pd.Timedelta(minutes=15), None, monkeypatch)
        back = t0 + pd.Timedelta(hours=1, minutes=15)  # an hour down: 6 buckets due
        res = _tick(sc, instance, back, first.cursor, monkeypatch)
        new, catch_up = res.run_requests
        assert (new.tags["smx/reason"], catch_up.tags["smx/reason"]) == ("new", "catch-up")
        assert int(new.tags["dagster/priority"]) > int(catch_up.tags["dagster/priority"])
        queued = _queue(instance, catch_up)
        # while it is queued, a delivery into one of its buckets: no separate late-data run
        inside = t0 + 2 * BUCKET
        _deliver(sc, inside, back + pd.Timedelta(seconds=20))
        assert _late(_tick(sc, instance, back + pd.Timedelta(minutes=1), res.cursor, monkeypatch)) == []
        result = _execute(sc, instance, queued, catch_up)
        keys = [(t0 + k * BUCKET).strftime(FMT) for k in range(1, 6)]
        mats = result.asset_materializations_for_node("scores")
        assert sorted(m.partition for m in mats) == keys  # one run, five buckets
        by_key = {m.partition: m.metadata for m in mats}
        assert by_key[inside.strftime(FMT)]["read_received_until"].value == (back + pd.Timedelta(seconds=20)).isoformat()
        assert all(isinstance(md["read_readings"].value, int) for md in by_key.values())
        later = _tick(sc, instance, back + pd.Timedelta(minutes=2), res.cursor, monkeypatch)
        assert [r for r in later.run_requests if r.tags["smx/reason"] != "new"] == []


def test_the_sensor_pins_the_model_versions_and_the_run_scores_with_them_without_the_registry(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 26 item 2: the sensor (long-lived code server) resolves champion and challenger once
    per tick into ``smx/models``; the run loads exactly those versions and does not resolve an
    alias itself. A tag that cannot be read makes the run resolve them (and say so), never fail."""
    from smx_assets.domain.model_registry import pins

    sc = scenario
    t0 = sc.day(14) + pd.Timedelta(hours=9)
    with dg.DagsterInstance.ephemeral() as instance:
        [req] = _tick(sc, instance, t0 + pd.Timedelta(minutes=15), None, monkeypatch).run_requests
        pinned = pins.from_tag(req.tags[pins.TAG])
        assert set(pinned) == {"heat", "calving", "fever"}
        for uc, roles in pinned.items():  # rule baselines only in this scenario: fallback champions
            assert roles["champion"].name == f"smx-{uc}-rule" and roles["champion"].fallback
            assert roles["champion"].kind == "rule" and roles["champion"].source

        from smx_assets.domain.model_registry import registry
        asked: list[str] = []
        real = registry.get_alias_version
        monkeypatch.setattr(registry, "get_alias_version", lambda *a, **k: asked.append(a[0]) or real(*a, **k))
        result = _execute(sc, instance, _queue(instance, req), req)
        md = result.asset_materializations_for_node("scores")[0].metadata
        assert md["models_resolved_by"].value == "sensor" and asked == []
        assert {uc: m["champion"] for uc, m in md["models"].value.items()} == {
            uc: f"{r['champion'].name} v{r['champion'].version}" for uc, r in pinned.items()}

        bad = req.with_replaced_attrs(tags={**req.tags, pins.TAG: '{"heat": 1}'})
        result = _execute(sc, instance, _queue(instance, bad), bad)
        md = result.asset_materializations_for_node("scores")[0].metadata
        assert md["models_resolved_by"].value == "run" and asked  # resolved here, and scored
        assert any("unreadable smx/models tag" in e.user_message for e in instance.all_logs(result.run_id))
