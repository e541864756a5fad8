"""Canary passwords with '#', '/', '?', '@', '%' (unencoded) in every URL kind a scoring run
uses — herd DB (PostgreSQL), sensor store (InfluxDB) and MLflow over HTTP (a closed port: the
failing case) — must appear nowhere: not in stdout/stderr, log records, the Dagster instance
folder (event log, run storage, compute logs), the MLflow store or the herd DB."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest
import sqlalchemy as sa

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.defs.scoring.jobs import scoring_job
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.redaction import install_log_redaction
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.resources import HerdDbResource, MlflowResource, SensorStoreResource
from smx_assets_tests.reliability.helpers import FMT, World, copy_scoring_window, failure_text

HERD_PW = "Herd#Canary/1?x@y%"
STORE_PW = "Store#Canary/2?q"
MLFLOW_PW = "Mlflow#Canary/3?z@"
CANARIES = [HERD_PW, STORE_PW, MLFLOW_PW]


def _spellings() -> list[str]:
    """Each canary as written and percent-encoded, plus its distinctive stem."""
    out = []
    for pw in CANARIES:
        out += [pw, quote(pw, safe=""), pw.split("#")[0] + "#"]
    return out


def _scan(folder: Path) -> list[str]:
    return [f"{p}: {s[:6]}" for p in folder.rglob("*") if p.is_file()
            for s in _spellings() if s.encode() in p.read_bytes()]


def test_canary_passwords_never_leak_from_succeeding_and_failing_runs(
        world: World, pg_url: str, influx_server, tmp_path: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    install_log_redaction()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    bucket = world.bucket(11)
    # Herd DB: PostgreSQL with trust auth accepts the canary; written unencoded in the URL.
    herd_url = pg_url.replace("postgres@", f"postgres:{HERD_PW}@", 1)
    upgrade_herd_db(herd_url)
    write_herd(world.sc.herd, HerdDbResource(url=herd_url).engine(), world.sc.config.end_ts)
    # Sensor store: InfluxDB without auth ignores the credentials it is sent.
    store_url = influx_server.url_with(user="reader", password=STORE_PW, database="canary")
    copy_scoring_window(world.sc.sensor_store.open(), open_sensor_store(store_url), bucket, bucket)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    mlflow_down = f"http://mluser:{MLFLOW_PW}@127.0.0.1:{closed}"

    monkeypatch.setenv("SMX_HERD_DB_URL", herd_url)
    monkeypatch.setenv("SMX_SENSOR_STORE_URL", store_url)
    monkeypatch.setenv("CANARY_MLFLOW_URI", mlflow_down)
    base = {**world.resources, "herd_db": HerdDbResource(url=dg.EnvVar("SMX_HERD_DB_URL")),
            "sensor_store": SensorStoreResource(url=dg.EnvVar("SMX_SENSOR_STORE_URL"))}
    ok_job = dg.Definitions(assets=[scores, *SOURCE_SPECS], jobs=[scoring_job], resources=base
                            ).resolve_job_def("scoring_job")
    down_job = dg.Definitions(assets=[scores, *SOURCE_SPECS], jobs=[scoring_job], resources={
        **base, "mlflow": MlflowResource(tracking_uri=dg.EnvVar("CANARY_MLFLOW_URI"))}).resolve_job_def("scoring_job")
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        ok = ok_job.execute_in_process(partition_key=bucket.strftime(FMT), instance=instance)
        assert ok.success
        assert ok.asset_materializations_for_node("scores")[0].metadata["predictions_written"].value > 0
        down = down_job.execute_in_process(partition_key=bucket.strftime(FMT), instance=instance,
                                           raise_on_error=False)
        assert not down.success
        text = failure_text(down)
        assert f"127.0.0.1:{closed}" in text  # the failure names the server ...
        texts = [text] + [dg.serialize_value(r) for rid in (ok.run_id, down.run_id) for r in instance.all_logs(rid)]
        texts += [dg.serialize_value(instance.get_run_by_id(rid)) for rid in (ok.run_id, down.run_id)]
    assert [s[:6] for t in texts for s in _spellings() if s in t] == []  # ... and no password
    assert _scan(tmp_path / "dagster_home") == []  # event log, run storage, compute logs
    mlflow_root = Path(world.resources["mlflow"].tracking_uri.removeprefix("sqlite:///")).parent
    assert _scan(mlflow_root / "artifacts") == [] if (mlflow_root / "artifacts").exists() else True
    assert [s for s in _spellings() if s.encode() in Path(mlflow_root / "mlflow.db").read_bytes()] == []
    engine = HerdDbResource(url=herd_url).engine()
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        dump = "\n".join(str(row) for t in tables for row in conn.execute(sa.text(f'SELECT * FROM "{t}"')))
    assert dump and [s for s in _spellings() if s in dump] == []
    out, err = capfd.readouterr()
    assert [s for s in _spellings() if s in out + err + caplog.text] == []
