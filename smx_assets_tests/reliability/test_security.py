"""Credentials never leak (logs, event log, asset metadata, run config, compute logs) and every
service the project starts binds to loopback by default."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.defs.scoring.jobs import scoring_job
from smx_assets.devtools import influx_server as influx_mod
from smx_assets.devtools import topology, ui_addresses
from smx_assets.devtools.influx_server import InfluxServer
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.resources import HerdDbResource, SensorStoreResource
from smx_assets.settings import Settings
from smx_assets_tests.reliability.helpers import FMT, SECRET, World, copy_scoring_window, failure_text

ROOT = Path(__file__).resolve().parents[2]


def _scan(folder: Path, secrets: list[str]) -> list[str]:
    """Files under ``folder`` (SQLite event/run storage, compute logs) containing a secret."""
    hits = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {s[:3]}..." for s in secrets if s.encode() in data]
    return hits


def test_credentials_never_appear_in_logs_metadata_or_run_config(
        world: World, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    server = InfluxServer.start(tmp_path / "influx", auth=True)  # random admin password
    wrong = "Wr0ng-" + SECRET
    try:
        bucket = world.bucket(8)
        copy_scoring_window(world.sc.sensor_store.open(), open_sensor_store(server.url), bucket, bucket)
        herd_url = sa.make_url(pg_url).set(password=SECRET).render_as_string(hide_password=False)  # trust auth
        upgrade_herd_db(herd_url)  # start-up step: resources only check the schema
        write_herd(world.sc.herd, HerdDbResource(url=herd_url).engine(), world.sc.config.end_ts)
        monkeypatch.setenv("SMX_SENSOR_STORE_URL", server.url)
        monkeypatch.setenv("SMX_HERD_DB_URL", herd_url)
        defs = dg.Definitions(assets=[scores, *SOURCE_SPECS], jobs=[scoring_job], resources={
            **world.resources,
            "herd_db": HerdDbResource(url=dg.EnvVar("SMX_HERD_DB_URL")),
            "sensor_store": SensorStoreResource(url=dg.EnvVar("SMX_SENSOR_STORE_URL")),
        })
        job = defs.resolve_job_def("scoring_job")
        (tmp_path / "dagster_home").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
            ok = job.execute_in_process(partition_key=bucket.strftime(FMT), instance=instance)
            assert ok.success
            assert ok.asset_materializations_for_node("scores")[0].metadata["predictions_written"].value > 0

            monkeypatch.setenv("SMX_SENSOR_STORE_URL", server.url_with(user="smx_admin", password=wrong))
            refused = job.execute_in_process(partition_key=bucket.strftime(FMT), instance=instance,
                                             raise_on_error=False)
            assert not refused.success
            assert "smx_admin:***@127.0.0.1" in failure_text(refused)
            assert "refused the credentials (HTTP 401" in failure_text(refused)

            monkeypatch.setenv("SMX_SENSOR_STORE_URL", server.url)
            server.stop()
            down = job.execute_in_process(partition_key=bucket.strftime(FMT), instance=instance,
                                          raise_on_error=False)
            assert not down.success and "cannot reach InfluxDB" in failure_text(down)

            secrets = [server.password, wrong, SECRET]
            texts = [failure_text(refused), failure_text(down)]
            for run_id in (ok.run_id, refused.run_id, down.run_id):
                run = instance.get_run_by_id(run_id)
                texts.append(dg.serialize_value(run))  # run config, tags, op selection
                texts += [dg.serialize_value(r) for r in instance.all_logs(run_id)]  # events + metadata
            leaks = [s[:3] for t in texts for s in secrets if s in t]
            assert leaks == []
            assert _scan(tmp_path / "dagster_home", secrets) == []  # storage DBs and compute logs
            out, err = capfd.readouterr()
            assert not [s for s in secrets if s in out + err + caplog.text]
            assert "smx_admin:***@" in err + caplog.text  # the scan does see the masked URL
    finally:
        server.stop()


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a LISTEN socket on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(addr)
    return found


def test_services_bind_to_loopback_by_default(influx_server) -> None:  # type: ignore[no-untyped-def]
    # InfluxDB (tests, benchmarks, infra/local): HTTP and the backup/RPC port, in the config ...
    config = influx_mod.render_config(Path("/tmp/x"), 18086, 18088, auth=False)
    binds = re.findall(r'bind-address = "([^"]+)"', config)
    assert len(binds) == 2 and all(b.startswith("127.0.0.1:") for b in binds)
    # ... and on the live server: listening sockets exist only on 127.0.0.1 (0100007F).
    for port in (influx_server.http_port, influx_server.rpc_port):
        assert _listening(port) == {"0100007F"}, port
    # The local topology (UI, code server, MLflow) and `make ui` (dagster dev).
    assert topology.LOOPBACK == "127.0.0.1"
    assert "0.0.0.0" not in Path(topology.__file__).read_text()
    # `make ui` takes its hosts from the settings (ui_addresses): with none set, both are loopback.
    dev = [line for line in (ROOT / "Makefile").read_text().splitlines()
           if "dagster dev" in line and not line.lstrip().startswith("#")]
    assert dev and all('-h "$$5"' in line for line in dev)
    words = ui_addresses.addresses(Settings.from_env({}, create_home=False))
    assert words[1] == "127.0.0.1" and words[4] == "127.0.0.1", words
    # Docker Compose binds inside containers but publishes only on the host's loopback.
    compose = yaml.safe_load((ROOT / "infra/compose/compose.yaml").read_text())
    published = [p for svc in compose["services"].values() for p in svc.get("ports", [])]
    assert published and all(str(p).startswith("127.0.0.1:") for p in published)
