"""End to end on the production topology, started on this machine on free loopback ports.

The same processes and config files as production (PostgreSQL instance storage, gRPC code
server, webserver, daemon with the queued run coordinator, MLflow server, InfluxDB); a real
client (dagster-graphql) launches runs through the queue and we check the result where
production keeps it: the ``runs`` and ``event_logs`` tables in PostgreSQL.

The scoring tests seed a simulated herd ending today into the topology's own stores (herd DB
in PostgreSQL, readings in its InfluxDB, features in its folder, models in its MLflow server),
launch ``scoring_job`` for one bucket through the queue, then let the daemon's scoring sensor
launch buckets that are due by real time on its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster
import pytest
import requests
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient

from smx_assets.defs.scoring.sensors import run_request
from smx_assets.devtools.topology import (
    LOCATION_NAME,
    Topology,
    TopologyConfig,
    _alive,
    code_location_status,
    daemon_statuses,
    graphql,
    grpc_serving,
)
from smx_assets.domain.scoring.planning import BucketRequest, shard_requests
from smx_assets_tests.conftest import PG_ADMIN_URL

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

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
    """The instance the daemon runs with limits scoring to one run per bucket and shard
    (``smx/scoring_key``, set by the scoring sensor), and has no ``dagster/partition`` limit,
    which would serialize the shards of a bucket (Dagster sets that tag on every partitioned
    run). The sharded test below shows both on the running queue."""
    import yaml

    loaded = yaml.safe_load((topology.config.dagster_home / "dagster.yaml").read_text())
    limits = loaded["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "smx/scoring_key", "value": {"applyLimitPerUniqueValue": True},
            "limit": 1} in limits
    assert not [limit for limit in limits if limit["key"] == "dagster/partition"]


# --------------------------------------------------------------------------- scoring end to end

SCORING_ANIMALS = 20
SCORING_FARMS = 8  # crc32 puts farms 1..8 into all four shards of 4 (3, 1, 3, 0, 2, 0, 2, 3)
SCORING_DAYS = 12  # the simulated herd ends today, so real "now" has due buckets for the sensor
SENSOR_NAME = "scoring_sensor"
REPOSITORY_NAME = "__repository__"  # the repository of a `Definitions` object
FMT = "%Y-%m-%d-%H:%M"


@dataclass
class SeededHerd:
    """A simulated herd in the topology's own stores, plus the models registered for it."""

    today: pd.Timestamp
    resources: dict[str, object]
    champion: ModelVersion  # smx-heat@champion, a real sklearn pipeline
    rule_names: dict[str, str]  # use case -> rule baseline model name (the others' fallback)
    timings: dict[str, float]

    def herd_engine(self) -> sa.Engine:
        return self.resources["herd_db"].engine()  # type: ignore[attr-defined]

    def scores(self) -> pd.DataFrame:
        """Every stored score (the score store under the code server's feature folder, lineage
        from the PostgreSQL herd DB), naive UTC timestamps."""
        from smx_assets_tests.score_tables import stored_scores

        return stored_scores(self.herd_engine(), self.resources["feature_store"].base_path)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def seeded(topology: Topology) -> Iterator[SeededHerd]:
    """Simulate 20 animals x 12 days ending today into the topology's PostgreSQL herd DB and
    InfluxDB, materialise the daily features of the last three complete days (in-process,
    against the same stores and feature folder the code server uses) and register models in
    the topology's MLflow *server*: a rule baseline per use case and an sklearn champion for
    heat (logged through the server's artifact proxy)."""
    import mlflow
    import pandas as pd
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features
    from smx_assets.defs.ingest.assets import SOURCE_SPECS
    from smx_assets.domain import model_registry
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.simulator import SimConfig, simulate
    from smx_assets.domain.simulator.loader import load
    from smx_assets.domain.use_cases.catalog import all_use_cases
    from smx_assets.resources import (
        FeatureStoreResource,
        HerdDbResource,
        MlflowResource,
        SensorStoreResource,
    )
    from smx_assets_tests.scenario import env as set_env

    topo_env = topology.config.env()
    tracking_uri = topo_env["MLFLOW_TRACKING_URI"]
    assert tracking_uri.startswith("http://")
    resources: dict[str, object] = {
        "herd_db": HerdDbResource(url=topo_env["SMX_HERD_DB_URL"]),
        "sensor_store": SensorStoreResource(url=topo_env["SMX_SENSOR_STORE_URL"]),
        "feature_store": FeatureStoreResource(base_path=topo_env["SMX_FEATURES_PATH"]),
        "mlflow": MlflowResource(tracking_uri=tracking_uri),
    }
    timings: dict[str, float] = {}
    now = pd.Timestamp.now(tz="UTC")
    today = now.floor("D")
    old_uri = mlflow.get_tracking_uri() if os.environ.get("MLFLOW_TRACKING_URI") else None
    try:
        with set_env(MLFLOW_TRACKING_URI=tracking_uri, SMX_HOME=topo_env["SMX_HOME"]):
            t0 = time.monotonic()
            config = SimConfig(n_animals=SCORING_ANIMALS, days=SCORING_DAYS, seed=11, n_farms=SCORING_FARMS,
                               start=(today - pd.Timedelta(days=SCORING_DAYS - 1)).date())
            herd = simulate(config)
            # Readings arrived by now only: the store looks like a live farm's at this moment.
            load(herd, resources["herd_db"].engine(), resources["sensor_store"].open(), as_of=now)
            timings["simulate_and_load"] = time.monotonic() - t0

            t0 = time.monotonic()
            first, last = today - pd.Timedelta(days=3), today - pd.Timedelta(days=1)
            result = dagster.materialize(
                [animal_profiles, sensor_baselines, training_features, *SOURCE_SPECS],
                selection=[animal_profiles, sensor_baselines, training_features],
                resources=resources,
                tags={"dagster/asset_partition_range_start": first.strftime("%Y-%m-%d"),
                      "dagster/asset_partition_range_end": last.strftime("%Y-%m-%d")},
            )
            assert result.success
            timings["daily_features"] = time.monotonic() - t0

            t0 = time.monotonic()
            model_registry.configure(tracking_uri)
            frame = FeatureFiles(topo_env["SMX_FEATURES_PATH"]).read("training_features", last)
            assert frame is not None and len(frame)
            rule_names: dict[str, str] = {}
            for uc in all_use_cases():
                with model_registry.training_run(uc.experiment_name, run_name=f"{uc.name}-rule") as run:
                    model_registry.log_rule_model(uc.rule_baseline, frame)
                model_registry.register(run.info.run_id, uc.rule_model_name)
                rule_names[uc.name] = uc.rule_model_name
            # The heat champion: a real sklearn pipeline (its target is a simple activity rule;
            # model quality is the training layer's business, this is about serving it).
            heat = next(u for u in all_use_cases() if u.name == "heat")
            X = frame[list(heat.feature_columns)]
            y = (frame["activity_ratio_hod_2h"].fillna(1.0) > 1.3).astype(int)
            model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(X, y)
            with model_registry.training_run(heat.experiment_name, run_name="heat-topology") as run:
                model_registry.log_sklearn_model(model, X)
            version = model_registry.register(run.info.run_id, heat.model_name)
            model_registry.set_alias(heat.model_name, "champion", version)
            client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            champion = client.get_model_version_by_alias(heat.model_name, "champion")
            timings["register_models"] = time.monotonic() - t0
    finally:
        # model_registry.configure() set MLflow's process-global URI: give other modules theirs.
        mlflow.set_tracking_uri(old_uri)
    seeded_herd = SeededHerd(today=today, resources=resources, champion=champion,
                             rule_names=rule_names, timings=timings)
    yield seeded_herd
    seeded_herd.herd_engine().dispose()  # before the topology fixture drops the database


def _champion_downloads(topology: Topology, seeded: SeededHerd) -> int:
    """How often the champion's serialized model was fetched from the MLflow server (GET only:
    the test's own upload is a PUT)."""
    model_id = seeded.champion.source.rsplit("/", 1)[-1]  # models:/m-<id>
    assert model_id.startswith("m-"), seeded.champion.source
    lines = Path(topology.records["mlflow"].log).read_text(errors="replace").splitlines()
    return sum(1 for line in lines if "GET /api/2.0/mlflow-artifacts/artifacts/" in line
               and model_id in line and "model.skops" in line)


def _predictions(seeded: SeededHerd, column: str, value: object) -> pd.DataFrame:
    """The stored scores whose ``column`` (a lineage column, or ``bucket_start``) equals ``value``."""
    frame = seeded.scores()
    return frame[frame[column] == value].reset_index(drop=True)


def _assert_champion_lineage(seeded: SeededHerd, preds: pd.DataFrame, run_id: str) -> None:
    """Every use case scored every animal once; heat by the champion from the MLflow server."""
    assert len(preds) > 0
    assert set(preds["use_case"]) == {"heat", "calving", "fever"}
    per_uc = preds[~preds["shadow"].astype(bool)].groupby("use_case")["animal_id"].nunique()
    assert (per_uc >= SCORING_ANIMALS - 5).all(), per_uc  # a few boluses start mid-simulation
    assert set(preds["dagster_run_id"]) == {run_id}
    heat = preds[preds["use_case"] == "heat"]
    assert set(heat["model_name"]) == {seeded.champion.name}
    assert set(heat["model_version"]) == {str(seeded.champion.version)}
    assert set(heat["model_alias"]) == {"champion"}
    assert set(heat["mlflow_run_id"]) == {seeded.champion.run_id}
    others = preds[preds["use_case"] != "heat"]
    assert set(others["model_name"]) == {seeded.rule_names["calving"], seeded.rule_names["fever"]}
    assert preds["score"].between(0, 1).all()


def test_scoring_run_for_a_partition(
    topology: Topology, client: DagsterGraphQLClient, dagster_db: sa.Engine, seeded: SeededHerd,
    sensor_rewind: SensorRewind, capsys: pytest.CaptureFixture[str],
) -> None:
    """A real client launches `scoring_job` for one bucket through the queue; the run worker
    loads the champion through the MLflow server, writes its scores to the score store and their lineage to PostgreSQL.
    (``sensor_rewind``: the sensor's next tick is awaited while this run goes.)"""
    import pandas as pd

    bucket = seeded.today - pd.Timedelta(days=1) + pd.Timedelta(hours=12)  # features exist
    key = bucket.strftime(FMT)
    outcome = launch_and_wait(client, "scoring_job", partition_key=key, timeout_s=150)
    assert outcome.status == "SUCCESS", _run_failure_detail(topology, outcome, dagster_db)

    preds = _predictions(seeded, "partition_key", key)
    _assert_champion_lineage(seeded, preds, outcome.run_id)
    assert set(pd.to_datetime(preds["bucket_start"])) == {bucket.tz_localize(None)}

    with dagster_db.connect() as conn:
        row = conn.execute(sa.text("SELECT status, create_timestamp, start_time, end_time FROM runs "
                                   "WHERE run_id = :r"), {"r": outcome.run_id}).one()
        tags = dict(conn.execute(sa.text("SELECT key, value FROM run_tags WHERE run_id = :r"),
                                 {"r": outcome.run_id}).all())
        meta = conn.execute(
            sa.text("SELECT event FROM event_logs WHERE run_id = :r "
                    "AND dagster_event_type = 'ASSET_MATERIALIZATION'"), {"r": outcome.run_id},
        ).scalars().all()
    assert row.status == "SUCCESS"
    assert tags["smx/run_kind"] == "scoring" and tags["dagster/partition"] == key
    assert "dagster/max_runtime" in tags
    assert len(meta) == 1 and '"scores"' in meta[0]
    # The run worker had no champion on disk: the version's skops file was downloaded through
    # the server's artifact proxy (mlflow-artifacts:/), the only place the artifacts live.
    assert _champion_downloads(topology, seeded) >= 1
    with capsys.disabled():
        print(f"\nscoring_job {key}: launch to SUCCESS {outcome.launch_to_end_s:.1f} s "
              f"(queued->started {row.start_time - row.create_timestamp.timestamp():.1f} s, "
              f"run {row.end_time - row.start_time:.1f} s), {len(preds)} predictions; "
              f"seeding { {k: round(v, 1) for k, v in seeded.timings.items()} }")


SENSOR_QUERY = """
query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename
  ... on Sensor { sensorState { status ticks(limit: 20) { id status timestamp runIds } } }
  ... on PythonError { message }
} }
"""

SET_CURSOR = """
mutation SetCursor($selector: SensorSelector!, $cursor: String) {
  setSensorCursor(sensorSelector: $selector, cursor: $cursor) {
    __typename ... on PythonError { message }
  }
}
"""


@dataclass
class SensorRewind:
    t_set: float  # epoch seconds when the cursor was set
    target: pd.Timestamp  # the one bucket the daemon's next tick must launch
    downloads_before: int


def _sensor_partitions(dagster_db: sa.Engine) -> list[str]:
    with dagster_db.connect() as conn:
        return conn.execute(sa.text(
            "SELECT p.value FROM run_tags s JOIN run_tags p ON p.run_id = s.run_id "
            "AND p.key = 'dagster/partition' WHERE s.key = 'dagster/sensor_name' AND s.value = :s"),
            {"s": SENSOR_NAME}).scalars().all()


@pytest.fixture(scope="module")
def sensor_rewind(topology: Topology, dagster_db: sa.Engine, seeded: SeededHerd) -> SensorRewind:
    """Hand the seeded farm to the scoring sensor, as an operator would after seeding.

    The sensor (RUNNING by default) ticked first while the topology started, before any herd or
    model existed, and asked for the newest due bucket (that run fails: no model registered);
    since then it follows real time, one new bucket per 10 minutes. Its run keys
    (`scores:<bucket>:new`) are never launched twice, so we rewind the cursor to just before the
    oldest bucket it ever requested: the daemon's next tick launches the newest due bucket as a
    one-bucket run (the rewound one, or a later one if a bucket closed meanwhile) and what lies
    between in a ranged catch-up run.
    `last_late_check` = now, so the late-data check does not re-score the freshly loaded day.

    The partition test requests this fixture too, so the wait for the next tick (the sensor's
    minimum interval is 60 s) overlaps with its run.
    """
    import pandas as pd

    from smx_assets.domain.scoring.planning import BUCKET, ScoringCursor, latest_due_bucket

    port = topology.config.ports["webserver"]
    state = graphql(port, SENSOR_QUERY, {"selector": _sensor_selector()})["sensorOrError"]
    assert state["__typename"] == "Sensor", state
    assert state["sensorState"]["status"] == "RUNNING"

    now = pd.Timestamp.now(tz="UTC")
    due = latest_due_bucket(now, pd.Timedelta(minutes=5))  # SMX_SCORING_GRACE_MINUTES default
    requested = [pd.Timestamp(dt.datetime.strptime(k, FMT), tz="UTC")
                 for k in _sensor_partitions(dagster_db)]
    target = min([*requested, due + BUCKET]) - BUCKET
    cursor = ScoringCursor(last_bucket=target - BUCKET, last_late_check=now)
    downloads_before = _champion_downloads(topology, seeded)
    t_set = time.time()
    answer = graphql(port, SET_CURSOR, {"selector": _sensor_selector(), "cursor": cursor.to_json()})
    assert answer["setSensorCursor"]["__typename"] == "Sensor", answer
    return SensorRewind(t_set, target, downloads_before)


def _sensor_selector() -> dict[str, str]:
    return {"repositoryLocationName": LOCATION_NAME, "repositoryName": REPOSITORY_NAME,
            "sensorName": SENSOR_NAME}


def test_daemon_runs_the_scoring_sensor_on_its_own(
    topology: Topology, dagster_db: sa.Engine, seeded: SeededHerd, sensor_rewind: SensorRewind,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The daemon evaluates `scoring_sensor` against real time and launches the due bucket on
    its own (nobody submits it); the run loads the champion through the MLflow server and
    writes predictions to PostgreSQL."""
    import pandas as pd

    t_set, key = sensor_rewind.t_set, sensor_rewind.target.strftime(FMT)
    timeout_s = 150.0  # the sensor's 60 s minimum interval + queue pickup + one run
    run, runs = None, []
    while time.time() - t_set < timeout_s:
        with dagster_db.connect() as conn:
            runs = conn.execute(sa.text(
                "SELECT r.run_id, r.status, r.create_timestamp, r.start_time, r.end_time, "
                "coalesce(p.value, rs.value) AS partition, coalesce(p.value, re.value) AS last_partition "
                "FROM runs r "
                "JOIN run_tags s ON s.run_id = r.run_id AND s.key = 'dagster/sensor_name' "
                "LEFT JOIN run_tags p ON p.run_id = r.run_id AND p.key = 'dagster/partition' "
                "LEFT JOIN run_tags rs ON rs.run_id = r.run_id AND rs.key = 'dagster/asset_partition_range_start' "
                "LEFT JOIN run_tags re ON re.run_id = r.run_id AND re.key = 'dagster/asset_partition_range_end' "
                "WHERE s.value = :sensor ORDER BY r.create_timestamp"), {"sensor": SENSOR_NAME}).all()
        runs = [r for r in runs if _epoch(r.create_timestamp) > t_set]
        failed = [r for r in runs if r.status in ("FAILURE", "CANCELED")]
        assert not failed, _run_failure_detail(
            topology, RunOutcome(failed[0].run_id, failed[0].status, 0.0), dagster_db)
        # Newest due bucket first: the tick asks for the newest bucket real time made due as a
        # one-bucket run (skipped by Dagster if the sensor's first tick already asked for it) and
        # the buckets behind it, from the rewound one on, in a ranged catch-up run.
        run = next((r for r in runs if r.status == "SUCCESS" and (r.last_partition or "") >= key), None)
        if run is not None:
            break
        time.sleep(1.0)
    assert run is not None, (
        f"no sensor-launched scoring run of {key} or later succeeded within {timeout_s:.0f} s of the "
        f"cursor rewind; sensor runs since: {runs}\n"
        + log_tail_text(Path(topology.records["daemon"].log).read_text(errors="replace")))
    key = run.partition if run.partition == run.last_partition else f"{run.partition}...{run.last_partition}"
    first, last = (pd.Timestamp(dt.datetime.strptime(k, FMT), tz="UTC") for k in (run.partition, run.last_partition))
    # Buckets that real time made due (window closed + 5 min grace), not ones the test invented.
    assert last + pd.Timedelta(minutes=15) <= pd.Timestamp(run.create_timestamp, tz="UTC")

    preds = _predictions(seeded, "dagster_run_id", run.run_id)
    _assert_champion_lineage(seeded, preds, run.run_id)
    assert preds["partition_key"].nunique() == 1
    assert set(pd.to_datetime(preds["bucket_start"])) == set(
        pd.date_range(first, last, freq="10min").tz_localize(None)), key
    # The champion came from the MLflow server: once, for this run or the partition test's run
    # (the other loads the same version from the local model cache, SMX_MODEL_CACHE_DIR).
    assert _champion_downloads(topology, seeded) >= sensor_rewind.downloads_before + 1

    port = topology.config.ports["webserver"]
    ticks = graphql(port, SENSOR_QUERY, {"selector": _sensor_selector()})["sensorOrError"][
        "sensorState"]["ticks"]
    tick = next(t for t in ticks if run.run_id in (t["runIds"] or []))
    assert tick["status"] == "SUCCESS"
    created = _epoch(run.create_timestamp)
    with capsys.disabled():
        print(f"\nscoring_sensor: cursor set -> tick {tick['timestamp'] - t_set:.1f} s, "
              f"tick -> run created {created - tick['timestamp']:.1f} s, "
              f"created -> started {run.start_time - created:.1f} s, "
              f"run {run.end_time - run.start_time:.1f} s; "
              f"tick -> SUCCESS {run.end_time - tick['timestamp']:.1f} s "
              f"(bucket {key}, {len(runs)} sensor run(s) since the rewind)")


SHARDS = 4
RUN_SPECIFIC = ["lineage_id", "dagster_run_id", "scored_at", "shard", "id", "created_at"]


def _wait_runs(client: DagsterGraphQLClient, run_ids: list[str], timeout_s: float) -> dict[str, str]:
    t0, status = time.monotonic(), {r: "QUEUED" for r in run_ids}
    while time.monotonic() - t0 < timeout_s and not all(v in TERMINAL for v in status.values()):
        for r in run_ids:
            if status[r] not in TERMINAL:
                status[r] = client.get_run_status(r).value
        time.sleep(0.5)
    return status


def _outputs(seeded: SeededHerd, bucket: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    at = {"b": bucket.tz_localize(None).to_pydatetime()}
    preds = _predictions(seeded, "bucket_start", bucket.tz_localize(None))
    with seeded.herd_engine().connect() as conn:
        alerts = pd.read_sql_query(sa.text("SELECT * FROM alerts WHERE bucket_start = :b"), conn, params=at)
    preds["feature_ref"] = preds["feature_ref"].str.replace(r"\.shard-\d+-of-\d+\.parquet", ".parquet", regex=True)
    alerts["feature_ref"] = alerts["feature_ref"].str.replace(r"\.shard-\d+-of-\d+\.parquet", ".parquet", regex=True)
    key = ["use_case", "model_name", "shadow", "animal_id"]
    return (preds.drop(columns=RUN_SPECIFIC[:4]).sort_values(key).reset_index(drop=True),
            alerts.drop(columns=[c for c in RUN_SPECIFIC if c in alerts]).sort_values(key[:1] + key[3:])
            .reset_index(drop=True))


def test_a_bucket_scored_as_four_shards_through_the_queue_equals_one_run(
    topology: Topology, client: DagsterGraphQLClient, dagster_db: sa.Engine, seeded: SeededHerd,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One bucket scored by one unsharded run, then as 4 shard runs submitted at once (the run
    config and tags the scoring sensor gives them with SMX_SCORING_SHARDS=4) plus a second run of
    shard 0: the queue runs the shards side by side (no per-partition limit serializes them),
    holds the second shard-0 run until the first ended (``smx/scoring_key`` limit 1), all
    succeed, and the predictions and alerts equal the unsharded run's (PostgreSQL, InfluxDB,
    champion from the MLflow server)."""
    import numpy as np
    import pandas as pd

    from smx_assets.domain.score_store import ScoreFiles
    from smx_assets.domain.score_store.files import bucket_table

    bucket = seeded.today - pd.Timedelta(days=1) + pd.Timedelta(hours=14)  # features exist
    key = bucket.strftime(FMT)
    whole = launch_and_wait(client, "scoring_job", partition_key=key, timeout_s=200)
    assert whole.status == "SUCCESS", _run_failure_detail(topology, whole, dagster_db)
    preds_whole, alerts_whole = _outputs(seeded, bucket)
    assert len(preds_whole) > 0
    with seeded.herd_engine().begin() as conn:
        conn.execute(sa.text("DELETE FROM alerts WHERE bucket_start = :b"), {"b": bucket.tz_localize(None).to_pydatetime()})
    ScoreFiles(seeded.resources["feature_store"].base_path).write_bucket(  # type: ignore[attr-defined]
        bucket, bucket_table(np.array([], "int32"), np.array([], "int32"), np.array([], "float64")))

    t0 = time.time()
    run_ids, shard_of = [], {}
    planned = shard_requests([BucketRequest(bucket, "new", "topology")], SHARDS)  # as the sensor asks
    for r in [*planned, planned[0]]:
        request = run_request(r)
        run_id = client.submit_job_execution(
            "scoring_job", repository_location_name=LOCATION_NAME, run_config=dict(request.run_config or {}),
            tags={"dagster/partition": key, **request.tags})
        run_ids.append(run_id)
        shard_of[run_id] = r.shard
    status = _wait_runs(client, run_ids, timeout_s=400)
    for run_id, st in status.items():
        assert st == "SUCCESS", _run_failure_detail(topology, RunOutcome(run_id, st, 0.0), dagster_db)
    with dagster_db.connect() as conn:
        rows = {r.run_id: r for r in conn.execute(sa.text(
            "SELECT run_id, create_timestamp, start_time, end_time FROM runs WHERE run_id IN :ids")
            .bindparams(sa.bindparam("ids", expanding=True)), {"ids": run_ids}).all()}
    first = [rows[r] for r in run_ids[:SHARDS]]
    again = rows[run_ids[SHARDS]]
    # shards of one bucket ran side by side: at least two were running at the same moment
    overlaps = sum(1 for i, a in enumerate(first) for b in first[i + 1:]
                   if a.start_time < b.end_time and b.start_time < a.end_time)
    assert overlaps >= 1, [(r.start_time, r.end_time) for r in first]
    # ... and shard 0's second run waited for its first (one run per bucket and shard)
    assert again.start_time >= first[0].end_time, (again.start_time, first[0].end_time)

    preds, alerts = _outputs(seeded, bucket)
    pd.testing.assert_frame_equal(preds_whole, preds)
    pd.testing.assert_frame_equal(alerts_whole, alerts)
    stored = _predictions(seeded, "bucket_start", bucket.tz_localize(None))
    by_run = stored.groupby("dagster_run_id")["animal_id"].nunique()
    assert {shard_of[r] for r in by_run.index} == set(range(SHARDS)) and (by_run > 0).all()  # every shard wrote
    last_end = max(r.end_time for r in rows.values())
    with capsys.disabled():
        print(f"\nsharded scoring {key}: {SHARDS} shards + a second shard-0 run, submit to last SUCCESS "
              f"{last_end - t0:.1f} s; shard runs "
              + ", ".join(f"{shard_of[r.run_id]}: {r.end_time - r.start_time:.1f} s" for r in first)
              + f"; {overlaps} overlapping pair(s); unsharded run {whole.launch_to_end_s:.1f} s launch to SUCCESS; "
              f"{len(preds)} predictions, {len(alerts)} alerts identical")


def _epoch(value: dt.datetime) -> float:
    """Dagster's run timestamps are naive UTC in PostgreSQL."""
    return value.replace(tzinfo=dt.timezone.utc).timestamp() if value.tzinfo is None else value.timestamp()


def log_tail_text(text: str, n_lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-n_lines:])


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
