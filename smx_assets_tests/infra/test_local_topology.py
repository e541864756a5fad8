"""End to end on the production topology, started on this machine on free loopback ports.

The same processes and config files as production (PostgreSQL instance storage, gRPC code
server, webserver, daemon with the queued run coordinator, MLflow server, InfluxDB); a real
client (dagster-graphql) launches runs through the queue and we check the result where
production keeps it: the ``runs`` and ``event_logs`` tables in PostgreSQL.

``launch_and_wait`` takes a partition key so the scoring job (10-minute partitions) slots in
as one more test once it exists; see ``test_scoring_run_for_a_partition`` below.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster
import pytest
import requests
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient

from smx_assets.devtools.topology import (
    LOCATION_NAME,
    Topology,
    TopologyConfig,
    _alive,
    code_location_status,
    daemon_statuses,
    grpc_serving,
)
from smx_assets_tests.conftest import PG_ADMIN_URL

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.influx]

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass
class RunOutcome:
    run_id: str
    status: str
    launch_to_end_s: float


def launch_and_wait(
    client: DagsterGraphQLClient,
    job_name: str,
    *,
    partition_key: str | None = None,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
    timeout_s: float = 120.0,
) -> RunOutcome:
    """Submit a run through the webserver (queued, then launched by the daemon) and wait.

    ``partition_key`` becomes the ``dagster/partition`` tag, exactly what the UI and the
    scoring sensor's RunRequest produce, so the per-partition concurrency limit applies.
    """
    all_tags = dict(tags or {})
    if partition_key is not None:
        all_tags["dagster/partition"] = partition_key
    t0 = time.monotonic()
    run_id = client.submit_job_execution(
        job_name,
        repository_location_name=LOCATION_NAME,
        run_config=run_config or {},
        tags=all_tags or None,
    )
    status = "QUEUED"
    while time.monotonic() - t0 < timeout_s:
        status = client.get_run_status(run_id).value
        if status in TERMINAL:
            break
        time.sleep(0.2)
    return RunOutcome(run_id, status, time.monotonic() - t0)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The topology on free ports with its own databases; stopped and dropped afterwards."""
    state_dir = tmp_path_factory.mktemp("topology")
    cfg = TopologyConfig(
        state_dir=state_dir,
        pg_admin_url=PG_ADMIN_URL,
        db_suffix=f"_t{uuid.uuid4().hex[:8]}",
        ports={"influxdb": 0, "mlflow": 0, "code_server": 0, "webserver": 0},
        start_timeout_s=150,
    )
    topo = Topology(cfg)
    try:
        topo.up()
        yield topo
    finally:
        outcomes = topo.down()
        topo.drop_databases()
        left = [r.name for r in topo.records.values() if _alive(r.pid)]
        left += [f"influxd {p}" for r in topo.records.values() for p in r.extra_pids if _alive(p)]
        print(f"\ntopology down: {outcomes}")
        assert not left, f"processes still alive after down: {left}"


@pytest.fixture(scope="module")
def client(topology: Topology) -> DagsterGraphQLClient:
    return DagsterGraphQLClient("127.0.0.1", port_number=topology.config.ports["webserver"])


@pytest.fixture(scope="module")
def dagster_db(topology: Topology) -> Iterator[sa.Engine]:
    engine = sa.create_engine(topology.config.db_url("dagster"))
    yield engine
    engine.dispose()


def test_everything_bound_to_loopback_and_recorded(topology: Topology) -> None:
    state = json.loads(topology.config.state_file.read_text())
    assert set(state["services"]) == {"influxdb", "mlflow", "code_server", "webserver", "daemon"}
    for name, rec in state["services"].items():
        assert _alive(rec["pid"]), name
    for argv in (r["argv"] for r in state["services"].values()):
        joined = " ".join(argv)
        assert "0.0.0.0" not in joined
    rows = topology.status()
    assert all(r["healthy"] for r in rows), rows
    print(f"\ntopology up timings (s): "
          f"{ {k: round(v, 1) for k, v in topology.timings.items()} }")


def test_code_server_serves_the_location(topology: Topology) -> None:
    assert grpc_serving(topology.config.ports["code_server"])
    assert code_location_status(topology.config.ports["webserver"]) == {
        LOCATION_NAME: "RepositoryLocation"
    }


def test_webserver_answers(topology: Topology) -> None:
    info = requests.get(f"{topology.webserver_url}/server_info", timeout=5).json()
    assert info["dagster_version"] == dagster.__version__


def test_daemon_heartbeats_in_postgres(topology: Topology, dagster_db: sa.Engine) -> None:
    statuses = daemon_statuses(topology.config.ports["webserver"])
    for daemon in ("SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING"):
        assert statuses.get(daemon) is True, statuses
    with dagster_db.connect() as conn:
        beating = set(conn.execute(sa.text("SELECT daemon_type FROM daemon_heartbeats")).scalars())
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"} <= beating


def test_smoke_run_launched_through_the_queue_succeeds(
    topology: Topology, client: DagsterGraphQLClient, dagster_db: sa.Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = launch_and_wait(client, "topology_smoke")
    assert outcome.status == "SUCCESS", _run_failure_detail(topology, outcome, dagster_db)

    with dagster_db.connect() as conn:
        row = conn.execute(
            sa.text("SELECT status, create_timestamp, start_time, end_time FROM runs "
                    "WHERE run_id = :r"), {"r": outcome.run_id},
        ).one()
        materialized = conn.execute(
            sa.text("SELECT event FROM event_logs WHERE run_id = :r "
                    "AND dagster_event_type = 'ASSET_MATERIALIZATION'"), {"r": outcome.run_id},
        ).scalars().all()
    assert row.status == "SUCCESS"
    assert len(materialized) == 1
    assert "platform_health" in materialized[0]
    # The run worker itself used PostgreSQL storage (recorded by the asset).
    assert "PostgresRunStorage" in materialized[0]
    assert "influxdb" in materialized[0]

    queued_to_start = row.start_time - row.create_timestamp.timestamp() if row.start_time else None
    with capsys.disabled():
        print(f"\ntopology_smoke: launch to SUCCESS {outcome.launch_to_end_s:.1f} s "
              f"(queued->started {queued_to_start:.1f} s, "
              f"run {row.end_time - row.start_time:.1f} s); "
              f"topology up {topology.timings['total']:.1f} s")


def test_same_partition_never_runs_twice_at_once(topology: Topology) -> None:
    """The instance the daemon runs with has the per-partition limit (scoring relies on it)."""
    import yaml

    loaded = yaml.safe_load((topology.config.dagster_home / "dagster.yaml").read_text())
    limits = loaded["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True},
            "limit": 1} in limits


@pytest.mark.skip(reason="scoring job not built yet: add it here (see module docstring)")
def test_scoring_run_for_a_partition(client: DagsterGraphQLClient) -> None:  # pragma: no cover
    """Once `scores` exists: seed readings + a champion, launch one bucket, check predictions.

    launch_and_wait(client, "<scoring job>", partition_key="<yyyy-mm-dd-HH:MM>") == SUCCESS;
    predictions rows for that partition in SMX_HERD_DB_URL; the champion was loaded through
    MLFLOW_TRACKING_URI; the daemon launches the next bucket via the scoring sensor on its own.
    """


def _run_failure_detail(topology: Topology, outcome: RunOutcome, dagster_db: sa.Engine) -> str:
    """The run's failure events (error and stack) plus the service log tails."""
    with dagster_db.connect() as conn:
        events = conn.execute(
            sa.text("SELECT event FROM event_logs WHERE run_id = :r AND dagster_event_type IN "
                    "('STEP_FAILURE', 'RUN_FAILURE', 'ENGINE_EVENT') ORDER BY id"),
            {"r": outcome.run_id},
        ).scalars().all()
    logs = topology.config.state_dir / "logs"
    tails = [e[-3000:] for e in events if "error" in e.lower()]
    for name in ("code_server", "daemon"):
        lines = (logs / f"{name}.log").read_text(errors="replace").splitlines()[-30:]
        tails.append(f"--- {name}.log ---\n" + "\n".join(lines))
    return f"run {outcome.run_id} ended {outcome.status}\n" + "\n".join(tails)
