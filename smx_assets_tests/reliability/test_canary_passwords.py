"""Canary passwords with '#', '/', '?', '@', '%' (unencoded) in every server URL kind — herd DB
(PostgreSQL), sensor store (InfluxDB) and MLflow over HTTP — must appear nowhere: not in
stdout/stderr, log records, the Dagster instance folder (event log, run storage, compute logs),
the MLflow store or the herd DB. Two tests: scoring runs in process, one succeeding and one
failing against a closed MLflow port; and a whole ``smx demo`` against a real ``mlflow server``."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.defs.scoring.jobs import scoring_job
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.redaction import install_log_redaction
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.resources import HerdDbResource, MlflowResource, SensorStoreResource
from smx_assets_tests.conftest import PG_ADMIN_URL
from smx_assets_tests.reliability.helpers import FMT, MlflowServer, World, copy_scoring_window, failure_text, smx

pytestmark = pytest.mark.slow  # ~2 min: a whole demo over MLflow HTTP

HERD_PW = "Herd#Canary/1?x@y%"
STORE_PW = "Store#Canary/2?q"
MLFLOW_PW = "Mlflow#Canary/3?z@"
CANARIES = [HERD_PW, STORE_PW, MLFLOW_PW]
ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture
def pg_role_url(pg_url: str) -> Iterator[str]:
    """The ``pg_url`` database owned by a role of its own whose password is :data:`HERD_PW`
    (set through the superuser). The local server trusts 127.0.0.1, so any password logs in:
    what matters is that the string is never stored."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    role, db = f"smx_canary_{uuid.uuid4().hex[:8]}", sa.make_url(pg_url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD :pw"), {"pw": HERD_PW})
        conn.execute(sa.text(f'ALTER DATABASE "{db}" OWNER TO {role}'))
    try:
        yield f"postgresql+psycopg2://{role}:{HERD_PW}@127.0.0.1:5432/{db}"  # unencoded, as pasted
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_canary_passwords_never_leak_from_a_whole_demo_over_mlflow_http(
        pg_role_url: str, influx_server, mlflow_server: MlflowServer,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    """The real ``smx demo`` (the small herd: every use case keeps its rule baseline and says
    why) with a password in every server URL: herd DB (a PostgreSQL role with a password),
    sensor store (InfluxDB) and MLflow over HTTP (a real ``mlflow server``). Every run
    succeeds, and no spelling of any password is in stdout, stderr, the Dagster instance
    folder, SMX_HOME (features), the MLflow server's store and artifacts, or the herd DB."""
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {"SMX_HERD_DB_URL": pg_role_url,
           "SMX_SENSOR_STORE_URL": influx_server.url_with(user="reader", password=STORE_PW, database="canary_demo"),
           "MLFLOW_TRACKING_URI": mlflow_server.url_with("mluser", MLFLOW_PW)}
    p = smx(tmp_path, "demo", "--animals", "3", "--days", "2", env=env, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "smx demo finished" in p.stdout and "Traceback" not in p.stdout + p.stderr
    # A herd too small to train is not an error: each use case keeps its rule baseline, says why.
    for uc in ("heat", "calving", "fever"):
        said = [x for x in p.stdout.splitlines() if x.strip().startswith(f"{uc} ") and "(rule baseline):" in x]
        assert said and "cross-validation by animal needs at least" in said[0], p.stdout[-3000:]

    assert [s[:6] for s in _spellings() if s in p.stdout + p.stderr] == []
    assert _scan(tmp_path) == []  # Dagster instance: event logs, run storage, compute logs; SMX_HOME
    assert (mlflow_server.root / "mlflow.db").stat().st_size > 0
    client = MlflowClient(tracking_uri=mlflow_server.url)
    assert {m.name for m in client.search_registered_models()} >= {"smx-heat-rule", "smx-calving-rule", "smx-fever-rule"}
    assert _scan(mlflow_server.root) == []  # backend store, served artifacts, server log
    engine = sa.create_engine(pg_role_url.replace(HERD_PW, quote(HERD_PW, safe=""), 1))
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        dump = "\n".join(str(row) for t in tables for row in conn.execute(sa.text(f'SELECT * FROM "{t}"')))
    engine.dispose()
    # the herd DB holds farm records, lineage and alerts (scores live in files, scanned above)
    assert "scoring_lineage" in tables and "predictions" not in tables and len(dump) > 5_000
    assert [s[:6] for s in _spellings() if s in dump] == []
