"""Store faults on real servers: InfluxDB stopped mid-run and mid-ingestion, a transient outage
bridged by retries, PostgreSQL unreachable or silent, MLflow store empty, a corrupted model.

Every case ends in a clear error (or a successful retry), leaves nothing a rerun would not fix,
and the ordinary rerun completes with no lost or duplicated data.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from smx_assets.devtools.influx_server import InfluxServer, free_port
from smx_assets.domain import model_registry
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.ingest_validation import validate_and_write_bolus
from smx_assets.domain.sensor_store.base import SensorStoreError
from smx_assets.domain.sensor_store.factory import influx_url, open_sensor_store
from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import HerdDbResource, MlflowResource, SensorStoreResource
from smx_assets_tests.reliability.helpers import (
    SECRET,
    World,
    copy_scoring_window,
    failure_text,
    materialize_scores,
    predictions_of,
)


def _count(store: InfluxSensorStore, measurement: str = "bolus") -> int:
    rows = [s["values"][0][1] for r in store._query(f'SELECT count("temp_c") FROM "{measurement}"')
            for s in r.get("series", [])]
    return int(rows[0]) if rows else 0


# ---------------------------------------------------------------------------- InfluxDB


def test_influxdb_stopped_before_a_scoring_run(world: World, tmp_path: Path) -> None:
    """Run fails naming the (masked) URL; earlier predictions untouched; restart + rerun is clean."""
    server = InfluxServer.start(tmp_path / "influx")
    try:
        # Credentials in the URL (ignored by this auth-less server) must be masked in every error.
        url = influx_url("127.0.0.1", server.http_port, "smx", user="smx", password=SECRET)
        bucket = world.bucket(0)
        copy_scoring_window(world.sc.sensor_store.open(), open_sensor_store(url), bucket, bucket)
        resources = {**world.resources, "sensor_store": SensorStoreResource(url=url)}
        engine = world.sc.herd_db.engine()

        first = materialize_scores(resources, bucket)
        assert first.success
        expected = world.expected_predictions(bucket)
        assert len(predictions_of(engine, world.features, bucket)) == expected

        server.stop()
        t0 = time.monotonic()
        failed = materialize_scores(resources, bucket)
        assert not failed.success
        assert time.monotonic() - t0 < 30  # bounded retries, then a clear failure
        text = failure_text(failed)
        assert "SensorStoreError" in text and "cannot reach InfluxDB after 4 attempts" in text
        assert f"influxdb://smx:***@127.0.0.1:{server.http_port}/smx" in text
        assert SECRET not in text
        kept = predictions_of(engine, world.features, bucket)
        assert len(kept) == expected and set(kept["dagster_run_id"]) == {first.run_id}

        server = InfluxServer.start(tmp_path / "influx", port=server.http_port)  # same data dir
        rerun = materialize_scores(resources, bucket)
        assert rerun.success
        after = predictions_of(engine, world.features, bucket)
        assert len(after) == expected and set(after["dagster_run_id"]) == {rerun.run_id}
        assert not after.duplicated(["use_case", "model_name", "animal_id"]).any()
    finally:
        server.stop()


def test_influxdb_stopped_during_a_large_ingestion_batch(world: World, tmp_path: Path) -> None:
    """The batch fails mid-way with a clear error; the same batch rerun after a restart leaves
    every valid reading exactly once and its rejections stored once."""
    server = InfluxServer.start(tmp_path / "influx")
    engine = make_engine(f"sqlite:///{tmp_path / 'herd.db'}")
    upgrade_herd_db(engine)
    try:
        store = InfluxSensorStore(server.http_url, "smx", retries=1, backoff_s=0.1)
        store.ensure_schema()
        n_animals, n_slots = 400, 200  # 80,000 readings: two 50,000-line bodies
        now = pd.Timestamp.now(tz="UTC").floor("s")
        ts = now - pd.Timedelta(days=2) + pd.to_timedelta(np.arange(n_slots) * 600, unit="s")
        raw = pd.DataFrame({
            "animal_id": np.repeat(np.arange(1, n_animals + 1), n_slots),
            "ts": np.tile(ts, n_animals),
            "temp_c": 39.0, "activity": 20.0, "ph": np.nan,
        })
        raw.loc[:9, "temp_c"] = 98.98  # ten artefacts among them
        known = set(range(1, n_animals + 1))
        valid = len(raw) - 10

        posts = {"n": 0}
        original = store._post_body

        def stop_after_first_body(body: bytes, n_lines: int, precision: str = "s", depth: int = 0) -> None:
            original(body, n_lines, precision, depth)
            posts["n"] += 1
            if posts["n"] == 2:  # arrival markers, then the first 50,000 readings: stop influxd
                server.stop()

        store._post_body = stop_after_first_body  # type: ignore[method-assign]
        with pytest.raises(SensorStoreError) as err:
            validate_and_write_bolus(raw, store, engine, now, batch_id="batch-1", known_animal_ids=known)
        assert f"influxdb {server.http_url}/smx: cannot reach InfluxDB" in str(err.value)
        del store._post_body  # the ordinary method again

        server = InfluxServer.start(tmp_path / "influx", port=server.http_port)
        partial = _count(store)
        assert 0 < partial < valid  # a partial write happened...
        with engine.connect() as conn:  # ...and no rejections were stored for the failed batch
            assert conn.execute(sa.text("SELECT count(*) FROM rejected_readings")).scalar_one() == 0

        for _ in range(2):  # the ordinary rerun, and once more: idempotent
            report = validate_and_write_bolus(raw, store, engine, now, batch_id="batch-1", known_animal_ids=known)
            assert (report.n_written, report.n_rejected) == (valid, 10)
            assert _count(store) == valid
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT reason, count(*) FROM rejected_readings WHERE batch_id = 'batch-1' GROUP BY reason"
                )).all()
            assert rows == [("out_of_range", 10)]
        back = store.read_bolus(ts[0], ts[-1] + pd.Timedelta(minutes=10), [1, n_animals])
        assert len(back) == 2 * n_slots - 10 and back["temp_c"].eq(39.0).all()
    finally:
        server.stop()
        engine.dispose()


def test_transient_influxdb_outage_is_bridged_by_retries(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = InfluxServer.start(tmp_path / "influx")
    restarted: list[InfluxServer] = []
    try:
        store = InfluxSensorStore(server.http_url, "smx", retries=6, backoff_s=0.2)  # waits 0.2..6.2 s
        store.ensure_schema()
        server.stop()

        def restart() -> None:
            time.sleep(0.5)
            restarted.append(InfluxServer.start(tmp_path / "influx", port=server.http_port))

        thread = threading.Thread(target=restart)
        thread.start()
        frame = pd.DataFrame({"animal_id": [7, 7], "ts": pd.to_datetime(["2026-09-02T10:01", "2026-09-02T10:11"], utc=True),
                              "temp_c": [39.1, 39.2], "activity": [11.0, 12.0], "ph": [np.nan, 6.2]})
        with caplog.at_level(logging.WARNING, logger="smx_assets.domain.sensor_store.influx_store"):
            assert store.write_bolus(frame) == 2
        thread.join()
        assert any("retrying" in r.getMessage() for r in caplog.records), "the outage was not hit"
        back = store.read_bolus("2026-09-02T10:00Z", "2026-09-02T10:20Z")
        assert back["temp_c"].tolist() == [39.1, 39.2] and back["ph"].isna().tolist() == [True, False]
    finally:
        server.stop()
        for s in restarted:
            s.stop()


# -------------------------------------------------------------------------- PostgreSQL


def test_postgresql_unreachable_fails_the_run_quickly(world: World) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg2://smx:{SECRET}@127.0.0.1:{port}/smx_herd"
    resources = {**world.resources, "herd_db": HerdDbResource(url=url)}
    t0 = time.monotonic()
    result = materialize_scores(resources, world.bucket(1))
    assert not result.success
    assert time.monotonic() - t0 < 30
    text = failure_text(result)
    assert "OperationalError" in text and f"port {port} failed" in text
    assert SECRET not in text


def test_postgresql_that_accepts_but_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A silent server (hung pooler, half-open firewall) used to hang libpq forever."""
    monkeypatch.setenv("SMX_DB_CONNECT_TIMEOUT_S", "2")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever speaks
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        # SMX_DB_CONNECT_TIMEOUT_S reaches libpq through the settings and the resource
        with pytest.raises(sa.exc.OperationalError, match="timeout expired"):
            HerdDbResource(url=f"postgresql+psycopg2://smx@127.0.0.1:{port}/smx_herd").engine()
        assert time.monotonic() - t0 < 10


# ------------------------------------------------------------------------------ MLflow


def test_empty_mlflow_store_fails_clearly_without_writing(world: World, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    empty_uri = f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}"
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", empty_uri)
    monkeypatch.setenv("SMX_HOME", str(tmp_path / "empty"))
    with pytest.raises(model_registry.NoModelError, match="no smx-heat@champion and no rule baseline smx-heat-rule"):
        model_registry.load_champion("smx-heat", client=model_registry.configure(empty_uri))
    bucket = world.bucket(2)
    resources = {**world.resources, "mlflow": MlflowResource(tracking_uri=empty_uri)}
    result = materialize_scores(resources, bucket)
    assert not result.success
    assert "NoModelError: no smx-heat@champion and no rule baseline smx-heat-rule registered" in failure_text(result)
    assert predictions_of(world.sc.herd_db.engine(), world.features, bucket).empty


def test_mlflow_server_down_fails_after_bounded_retries(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow's HTTP client retries 7 times with backoff factor 2 by default (minutes); the
    # deployment bounds it with these two variables. The failure must name the server.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    t0 = time.monotonic()
    result = materialize_scores({**world.resources, "mlflow": MlflowResource(tracking_uri=uri)}, world.bucket(3))
    assert not result.success
    assert time.monotonic() - t0 < 60
    text = failure_text(result)
    assert f"127.0.0.1:{port}" in text and ("Max retries exceeded" in text or "Connection refused" in text)
    assert predictions_of(world.sc.herd_db.engine(), world.features, world.bucket(3)).empty


def test_corrupted_model_artifact_fails_naming_the_version(world: World, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "mlflow_home"
    home.mkdir()
    uri = f"sqlite:///{home / 'mlflow.db'}"
    monkeypatch.setenv("SMX_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = model_registry.configure(uri)
    uc = next(u for u in all_use_cases() if u.name == "heat")
    frame = FeatureFiles(world.resources["feature_store"].base_path).read("training_features", world.sc.day(3))
    X = frame[list(uc.feature_columns)].astype("float64")
    y = (frame["activity_ratio_hod_2h"].fillna(1.0) > 1.3).astype(int)
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=200)).fit(X, y)
    with model_registry.training_run(uc.experiment_name, run_name="heat-corrupt") as run:
        model_registry.log_sklearn_model(model, X)
    version = model_registry.register(run.info.run_id, uc.model_name)
    model_registry.set_alias(uc.model_name, "champion", version)
    with model_registry.training_run(uc.experiment_name, run_name="heat-rule") as run:
        model_registry.log_rule_model(uc.rule_baseline, frame)
    model_registry.register(run.info.run_id, uc.rule_model_name)  # a fallback exists: must NOT be used

    files = [p for p in (home / "artifacts").rglob("model.skops")]
    assert len(files) == 1
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated, as by a full disk or a bad copy

    with pytest.raises(model_registry.ModelLoadError, match=f"cannot load smx-heat version {version} "):
        model_registry.load_champion(uc.model_name, fallback_name=uc.rule_model_name, client=client)
    bucket = world.bucket(4)
    result = materialize_scores({**world.resources, "mlflow": MlflowResource(tracking_uri=uri)}, bucket,
                                use_cases=["heat"])
    assert not result.success
    text = failure_text(result)
    assert f"ModelLoadError: cannot load smx-heat version {version} (alias champion)" in text
    assert predictions_of(world.sc.herd_db.engine(), world.features, bucket).empty
    mlflow.set_tracking_uri(world.resources["mlflow"].tracking_uri)


# ------------------------------------------------------------------------- herd DB schema


@pytest.mark.parametrize("state", ["never migrated", "old revision"])
def test_scoring_against_an_out_of_date_herd_schema_fails_fast_without_migrating(
        world: World, tmp_path: Path, state: str) -> None:
    """Migration is a start-up step (``smx migrate``): a run never runs Alembic itself, and an
    out-of-date schema stops it before any read or write, saying what to run."""
    url = f"sqlite:///{tmp_path / 'stale.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE keep_me (x INTEGER)"))
        if state == "old revision":
            conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0000_older')"))
    t0 = time.monotonic()
    result = materialize_scores({**world.resources, "herd_db": HerdDbResource(url=url)}, world.bucket(20))
    seconds = time.monotonic() - t0
    assert not result.success
    text = failure_text(result)
    assert "HerdDbSchemaError" in text and "run `smx migrate`" in text
    assert ("has no herd schema" if state == "never migrated" else "is at schema revision 0000_older") in text
    assert seconds < 30
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert "predictions" not in tables and "keep_me" in tables  # nothing created, nothing dropped
