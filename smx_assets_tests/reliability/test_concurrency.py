"""Concurrency on a PostgreSQL herd DB: the same partition launched twice at once, a run worker
killed mid-run and re-executed, and the sensor catching up after a day and a half of downtime;
and on the embedded default: two first trainings at once, then two scorings at once; three
first migrations of one herd DB at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.defs.scoring import sensors as scoring_sensors
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.score_store import ScoreFiles
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.domain.time_grid import BUCKET
from smx_assets.resources import HerdDbResource
from smx_assets_tests.reliability.helpers import (
    FMT,
    World,
    alerts_of,
    materialize_scores,
    predictions_of,
    smx_env,
)
from smx_assets_tests.score_tables import stored_scores

pytestmark = pytest.mark.slow  # ~5 min: concurrent Dagster runs, killed workers, a day and a half of sensor catch-up

KEY = ["use_case", "model_name", "model_version", "animal_id", "bucket_start"]


def _pg_world(world: World, pg_url: str) -> tuple[dict[str, Any], sa.Engine]:
    """The world's herd records in a fresh PostgreSQL database (readings and models shared)."""
    upgrade_herd_db(pg_url)  # start-up step: resources only check the schema
    herd_db = HerdDbResource(url=pg_url)
    engine = herd_db.engine()
    write_herd(world.sc.herd, engine, world.sc.config.end_ts)
    return {**world.resources, "herd_db": herd_db}, engine


def test_same_partition_launched_twice_at_once(world: World, pg_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Both runs reach the score file of the bucket together: each writes its own temporary
    file and renames it into place, so the bucket holds one run's scores, whole."""
    resources, engine = _pg_world(world, pg_url)
    bucket = world.bucket(6)
    barrier = threading.Barrier(2, timeout=120)
    original = ScoreFiles.write_bucket

    def together(self: ScoreFiles, *args: Any, **kwargs: Any) -> int:
        barrier.wait()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ScoreFiles, "write_bucket", together)
    results: list[dg.ExecuteInProcessResult] = []
    threads = [threading.Thread(target=lambda: results.append(materialize_scores(resources, bucket)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 2
    assert all(r.success for r in results), [r for r in results if not r.success]
    assert barrier.n_waiting == 0 and not barrier.broken  # both really met at the write
    preds = predictions_of(engine, world.features, bucket)
    assert len(preds) == world.expected_predictions(bucket)
    assert not preds.duplicated(KEY).any()
    assert preds["dagster_run_id"].nunique() == 1  # one run's set, whole, replaced the other's
    assert preds["dagster_run_id"].iloc[0] in {r.run_id for r in results}
    alerts = alerts_of(engine)
    assert not alerts.duplicated(["use_case", "animal_id", "bucket_start"]).any()


def _killed_run(world: World, resources: dict[str, Any], pg_url: str, home: Path, bucket: pd.Timestamp,
                at: str) -> dg.DagsterInstance:
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SMX_HOME": str(world.sc.root),
           "SMX_HERD_DB_URL": pg_url, "SMX_SENSOR_STORE_URL": world.sc.sensor_store.url,
           "SMX_FEATURES_PATH": resources["feature_store"].base_path,
           "MLFLOW_TRACKING_URI": resources["mlflow"].tracking_uri,
           "KILLED_RUN_PARTITION": bucket.strftime(FMT), "KILLED_RUN_AT": at}
    proc = subprocess.run([sys.executable, "-m", "smx_assets_tests.reliability._killed_run"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(str(home))
    return instance


def test_run_worker_killed_mid_run_then_rerun_is_clean(world: World, pg_url: str, tmp_path: Path) -> None:
    resources, engine = _pg_world(world, pg_url)
    bucket = world.bucket(7)
    instance = _killed_run(world, resources, pg_url, tmp_path / "dagster_home", bucket, "after-scores")
    [orphan] = instance.get_runs()
    assert orphan.status == dg.DagsterRunStatus.STARTED  # run monitoring would mark it failed
    partial = predictions_of(engine, world.features, bucket)
    assert set(partial["dagster_run_id"]) == {orphan.run_id}  # scores committed, alerts never ran

    rerun = materialize_scores(resources, bucket, instance=instance)
    assert rerun.success
    preds = predictions_of(engine, world.features, bucket)
    assert len(preds) == world.expected_predictions(bucket) and not preds.duplicated(KEY).any()
    assert set(preds["dagster_run_id"]) == {rerun.run_id}
    assert not alerts_of(engine).duplicated(["use_case", "animal_id", "bucket_start"]).any()
    instance.dispose()


def test_killed_in_the_middle_of_writing_a_score_file_leaves_the_old_scores(world: World, pg_url: str,
                                                                          tmp_path: Path) -> None:
    """SIGKILL with half of the bucket's new score file on disk: readers see the earlier run's
    scores, whole (never a truncated file, never a mix); the half-written temporary file is
    not a score file, and a rerun replaces the bucket cleanly."""
    resources, engine = _pg_world(world, pg_url)
    bucket = world.bucket(8)
    first = materialize_scores(resources, bucket)
    assert first.success
    before = predictions_of(engine, world.features, bucket)
    assert len(before) == world.expected_predictions(bucket) and set(before["dagster_run_id"]) == {first.run_id}

    instance = _killed_run(world, resources, pg_url, tmp_path / "dagster_home", bucket, "mid-write")
    folder = Path(ScoreFiles(world.features).bucket_path(bucket)).parent
    leftovers = [p.name for p in folder.iterdir() if ".tmp-" in p.name]
    assert len(leftovers) == 1 and leftovers[0].startswith(bucket.strftime("%H%M"))  # the killed write
    after_kill = predictions_of(engine, world.features, bucket)
    pd.testing.assert_frame_equal(after_kill.reset_index(drop=True), before.reset_index(drop=True))

    rerun = materialize_scores(resources, bucket, instance=instance)
    assert rerun.success
    preds = predictions_of(engine, world.features, bucket)
    assert len(preds) == len(before) and set(preds["dagster_run_id"]) == {rerun.run_id}
    assert np.array_equal(preds.sort_values(["lineage_id", "animal_id"])["score"].to_numpy(),
                          before.sort_values(["lineage_id", "animal_id"])["score"].to_numpy())
    instance.dispose()


def test_catch_up_after_a_day_and_a_half_of_downtime(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = world.sc
    t0 = sc.day(3) + pd.Timedelta(hours=3)

    def tick(at: pd.Timestamp, cursor: str | None) -> dg.SensorResult:
        monkeypatch.setattr(scoring_sensors, "utc_now", lambda: at)
        return scoring_sensors.scoring_sensor(
            dg.build_sensor_context(cursor=cursor, resources={"sensor_store": sc.sensor_store, "mlflow": sc.resources["mlflow"]}))

    first = tick(t0 + pd.Timedelta(minutes=15), None)
    assert [r.partition_key for r in first.run_requests] == [t0.strftime(FMT)]
    back = t0 + pd.Timedelta(hours=36, minutes=15)  # the daemon was down for 36 hours
    due = t0 + pd.Timedelta(hours=36)
    cursor, new, caught_up, observations = first.cursor, [], [], []
    for _ in range(40):
        res = tick(back, cursor)
        new += [r.partition_key for r in res.run_requests if r.tags["smx/reason"] == "new"]
        ranges = [r for r in res.run_requests if r.tags["smx/reason"] == "catch-up"]
        assert len(ranges) <= 1  # one ranged catch-up run a tick: the run queue never floods
        for r in ranges:
            keys = pd.date_range(pd.to_datetime(r.tags["dagster/asset_partition_range_start"], format=FMT),
                                 pd.to_datetime(r.tags["dagster/asset_partition_range_end"], format=FMT), freq=BUCKET)
            assert len(keys) <= 36  # SMX_SCORING_MAX_NEW_PER_TICK: buckets per catch-up run
            caught_up += [k.strftime(FMT) for k in keys]
        observations += res.asset_events
        cursor = res.cursor
        if not ranges:
            break
    oldest = due - pd.Timedelta(hours=24) + BUCKET  # SMX_SCORING_MAX_CATCHUP_HOURS = 24
    assert new == [due.strftime(FMT)]  # the newest bucket first, on the first tick back
    assert caught_up == [(oldest + k * BUCKET).strftime(FMT) for k in range(143)]  # oldest first, no gap, once
    [obs] = observations
    assert isinstance(obs, dg.AssetObservation) and obs.asset_key == dg.AssetKey("scores")
    meta = {k: v.value for k, v in obs.metadata.items()}
    assert meta["skipped_from"] == (t0 + BUCKET).strftime(FMT) and meta["skipped_to"] == oldest.strftime(FMT)
    assert meta["skipped_buckets"] == (oldest - t0 - BUCKET) / BUCKET == 72


def _prediction_stats(home: Path) -> tuple[int, int, int]:
    """(stored scores, duplicate score keys, duplicate alert keys) of an embedded home."""
    engine = sa.create_engine(f"sqlite:///{home / 'herd.db'}")
    scores = stored_scores(engine, str(home / "features"))
    dup_p = int(scores.duplicated(KEY).sum())
    with engine.connect() as conn:
        dup_a = conn.execute(sa.text("SELECT count(*) FROM (SELECT 1 FROM alerts GROUP BY use_case, animal_id, "
                                     "bucket_start HAVING count(*) > 1)")).scalar_one()
    engine.dispose()
    return len(scores), dup_p, dup_a


def _at_once(home: Path, *args: str) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen([sys.executable, "-m", "smx_assets.cli", *args], cwd=home, env=smx_env(home),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=900)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_two_first_trainings_at_once_then_two_scorings_on_the_populated_home(tmp_path: Path) -> None:
    """Two first trainings started together on a fresh home both succeed: the MLflow store is
    created under a lock (no ``table ... already exists``; two whole ``smx demo`` at once pass
    too, in 5 minutes here: this is the smallest real path that creates the store and trains).
    Then two scorings of the same day at once on the populated home leave exactly one prediction
    per key and no duplicate alert."""
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    today = pd.Timestamp.now(tz="UTC").floor("D")
    sim = subprocess.run([sys.executable, "-m", "smx_assets.cli", "simulate", "--animals", "3", "--days", "4"],
                         cwd=tmp_path, env=smx_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert sim.returncode == 0, sim.stderr[-3000:]
    assert not (tmp_path / "smx" / "mlflow.db").exists()  # the trainings create it
    for p in _at_once(tmp_path, "train"):
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
        assert "already exists" not in p.stderr and "rule baseline" in p.stderr
    assert (tmp_path / "smx" / "mlflow.db.lock").exists()

    day = (today - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    for round_ in range(2):  # the first pair populates the day, the second re-scores it
        for p in _at_once(tmp_path, "score", "--from", day, "--to", day):
            assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
        n, dup_p, dup_a = _prediction_stats(tmp_path / "smx")
        assert n == 3 * 3 * 144 and (dup_p, dup_a) == (0, 0), (round_, n, dup_p, dup_a)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_first_migrations_leave_one_schema_revision(backend: str, tmp_path: Path, pg_url: str) -> None:
    """Three processes migrating one fresh herd DB at once: one migrates, the others wait
    (before: two rows in alembic_version, 'more than one head present' for every later command)."""
    from smx_assets.domain.herd_db_migrate import head_revision

    url = f"sqlite:///{tmp_path / 'herd.db'}" if backend == "sqlite" else pg_url
    code = ("import sys, time; from smx_assets.domain.herd_db_migrate import upgrade_herd_db; "
            "t = float(sys.argv[2]); time.sleep(max(0.0, t - time.time())); upgrade_herd_db(sys.argv[1])")
    start = str(time.time() + 4)  # after the imports: all three reach the migration together
    procs = [subprocess.Popen([sys.executable, "-c", code, url, start], stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    engine.dispose()
