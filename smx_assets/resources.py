"""Dagster resources: thin, configured from the environment, with embedded defaults.

Each resource wraps one store of the domain layer. Values come from environment variables
through ``EnvVar`` when they are set (so credentials inside URLs never show in the UI or run
config), and fall back to the embedded default under ``SMX_HOME`` when they are not, so a
fresh clone runs with no configuration at all.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from smx_assets import settings
from smx_assets.domain.herd_db_migrate import require_current_schema
from smx_assets.domain.sql_engine import make_engine

_engine_lock = threading.Lock()


@lru_cache(maxsize=8)
def _engine_for(url: str, connect_timeout_s: int) -> Engine:
    engine = make_engine(url, connect_timeout_s=connect_timeout_s)
    try:
        require_current_schema(engine)  # a check, not a migration: see herd_db_migrate
    except BaseException:
        engine.dispose()
        raise
    return engine


class HerdDbResource(dg.ConfigurableResource):
    """The herd database (farm records, predictions, alerts, rejections) via SQLAlchemy."""

    url: str

    def engine(self) -> Engine:
        """One pooled engine per URL and process; the schema must be at head (``smx migrate``),
        else :class:`HerdDbSchemaError` names the command to run."""
        timeout = settings.current().database.connect_timeout_s
        with _engine_lock:
            return _engine_for(self.url, timeout)


class SensorStoreResource(dg.ConfigurableResource):
    """The bolus/climate time-series store: embedded SQL by default, InfluxDB by URL."""

    url: str

    def open(self):  # type: ignore[no-untyped-def]
        from smx_assets.domain.sensor_store.factory import open_sensor_store

        s = settings.current()
        return _store_for(self.url, lambda url: open_sensor_store(
            url, connect_timeout_s=s.database.connect_timeout_s, serialize_workers=s.workers.influx_serialize_workers))


_stores: dict[str, Any] = {}


def _store_for(url: str, opener: Any) -> Any:
    with _engine_lock:
        store = _stores.get(url)
        if store is None:
            store = opener(url)
            store.ensure_schema()
            _stores[url] = store
        return store


class FeatureStoreResource(dg.ConfigurableResource):
    """Where training feature Parquet files live: a local folder or any fsspec URL."""

    base_path: str


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking and registry. One URI serves both (sqlite file or an MLflow server)."""

    tracking_uri: str
    registry_uri: str | None = None

    def configure(self, *, ensure: bool = True) -> None:
        """Point the mlflow client at this store; called at the start of every step using it.
        ``ensure=False``: without creating a missing embedded store (see :meth:`lazy_client`)."""
        import mlflow

        from smx_assets.domain.mlflow_uri import for_mlflow

        mlflow.set_tracking_uri(for_mlflow(self.tracking_uri, ensure=ensure))
        # Only an explicitly separate registry is set: mlflow.set_registry_uri also writes the
        # process environment and cannot be unset, which would pin later runs in the same
        # process (tests, the demo) to this store. Without it, the registry follows tracking.
        if self.registry_uri:
            mlflow.set_registry_uri(for_mlflow(self.registry_uri, ensure=ensure))

    def client(self):  # type: ignore[no-untyped-def]
        """A client on *this* resource's store (after :meth:`configure`).

        Model look-ups must use it: the registry helpers' default client follows the process
        environment (``MLFLOW_TRACKING_URI``/``SMX_HOME``), which need not match the resource.
        """
        from mlflow import MlflowClient

        from smx_assets.domain.mlflow_uri import for_mlflow

        self.configure()
        registry = self.registry_uri or settings.raw("MLFLOW_REGISTRY_URI") or self.tracking_uri
        return MlflowClient(tracking_uri=for_mlflow(self.tracking_uri), registry_uri=for_mlflow(registry))

    def lazy_client(self) -> LazyMlflowClient:
        """:meth:`client`, created on first use: a scoring run whose models the sensor pinned and
        the local cache holds never asks the registry, so it need not pay for opening it (on the
        embedded store: importing MLflow's SQL store, 0.4-0.5 s a fresh process). The process's
        MLflow URIs are set now, so a version missing from the cache still downloads from this
        store; the client itself (and the embedded store's creation) comes on first use."""
        self.configure(ensure=False)
        return LazyMlflowClient(self.client)


class LazyMlflowClient:
    """An ``MlflowClient`` made by ``make`` when one of its methods is first used."""

    def __init__(self, make: Any) -> None:
        self._make, self._client = make, None

    @property
    def created(self) -> bool:
        return self._client is not None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


def default_resources() -> dict[str, Any]:
    """The resource set for the current environment (embedded defaults where nothing is set)."""
    home = settings.smx_home()
    env = settings.env_var_or_default
    return {
        "herd_db": HerdDbResource(url=env("SMX_HERD_DB_URL", settings.default_herd_db_url(home))),
        "sensor_store": SensorStoreResource(url=env("SMX_SENSOR_STORE_URL", settings.default_sensor_store_url(home))),
        "feature_store": FeatureStoreResource(base_path=env("SMX_FEATURES_PATH", settings.default_features_path(home))),
        "mlflow": MlflowResource(tracking_uri=env("MLFLOW_TRACKING_URI", settings.default_mlflow_uri(home))),
    }
