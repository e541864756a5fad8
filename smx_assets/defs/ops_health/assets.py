"""Platform health and housekeeping: what an operator needs to trust the deployment itself.

* ``platform_health`` (job ``topology_smoke``): one cheap run that touches every store the
  code location depends on, from a real run worker. The topology test and a fresh deployment
  launch it to prove storage, queue, daemon, code server and stores work together.
* ``dagster_run_retention`` (daily): Dagster's own retention only purges schedule/sensor
  ticks. With 144 scoring runs a day the run and event-log tables grow by ~52k runs a year,
  so finished runs older than ``keep_days`` are deleted here.
"""

import time
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import requests
import sqlalchemy as sa

from smx_assets.domain.redaction import mask_url, normalise_url
from smx_assets.resources import HerdDbResource, MlflowResource, SensorStoreResource

GROUP = "ops_health"


def _masked(url: str) -> str:
    """Credentials never go into asset metadata (they are visible to every UI user)."""
    return mask_url(url)


def _probe_sensor_store(url: str) -> dict[str, Any]:
    """Reach the sensor store directly (InfluxDB ``/ping`` or a SQL ``SELECT 1``).

    Deliberately below the store interface: this checks connectivity, not our own code.
    """
    t0 = time.perf_counter()
    if url.startswith("influxdb"):
        parts = urlsplit(normalise_url(url))
        scheme = "https" if url.startswith("influxdbs") else "http"
        resp = requests.get(f"{scheme}://{parts.hostname}:{parts.port or 8086}/ping", timeout=5)
        if resp.status_code != 204:
            raise dg.Failure(f"InfluxDB /ping answered {resp.status_code}")
        info = {"kind": "influxdb", "version": resp.headers.get("X-Influxdb-Version", "?")}
    else:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
        info = {"kind": sa.make_url(url).get_backend_name()}
    info["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    return info


@dg.asset(group_name=GROUP, kinds={"python"}, owners=["team:platform"])
def platform_health(
    context: dg.AssetExecutionContext,
    herd_db: HerdDbResource,
    sensor_store: SensorStoreResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Herd DB (schema at head), sensor store and MLflow tracking all reachable from a run worker."""
    t0 = time.perf_counter()
    with herd_db.engine().connect() as conn:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    herd_ms = round((time.perf_counter() - t0) * 1000, 1)

    store = _probe_sensor_store(sensor_store.url)

    import mlflow as mlflow_client

    t0 = time.perf_counter()
    mlflow.configure()
    n_experiments = len(mlflow_client.search_experiments(max_results=5))
    mlflow_ms = round((time.perf_counter() - t0) * 1000, 1)

    context.log.info("herd DB rev %s, sensor store %s, mlflow ok", revision, store["kind"])
    return dg.MaterializeResult(
        metadata={
            "herd_db": dg.MetadataValue.text(_masked(herd_db.url)),
            "herd_db_revision": dg.MetadataValue.text(str(revision)),
            "herd_db_latency_ms": herd_ms,
            "sensor_store": dg.MetadataValue.text(_masked(sensor_store.url)),
            "sensor_store_kind": store["kind"],
            "sensor_store_version": str(store.get("version", "")),
            "sensor_store_latency_ms": store["latency_ms"],
            "mlflow_tracking_uri": dg.MetadataValue.text(_masked(mlflow.tracking_uri)),
            "mlflow_latency_ms": mlflow_ms,
            "mlflow_experiments_seen": n_experiments,
            "instance_storage": type(context.instance.run_storage).__name__,
        }
    )
