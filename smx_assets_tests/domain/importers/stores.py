"""The two store set-ups every importer test runs on: PostgreSQL for herd DB and readings, or
InfluxDB for readings beside a SQLite herd DB (the embedded default's shape)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from smx_assets.devtools.scratch_databases import create_database, drop_database
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets_tests.conftest import PG_ADMIN_URL

KINDS = ["postgresql", "influxdb"]


@contextmanager
def import_stores(kind: str, request: pytest.FixtureRequest, folder: Path, prefix: str
                  ) -> Iterator[tuple[SensorStore, sa.Engine]]:
    """(sensor store, herd DB engine) of ``kind``, migrated and empty; removed afterwards."""
    url = None
    if kind == "postgresql":
        url = create_database(PG_ADMIN_URL, f"smx_test_{prefix}_{uuid.uuid4().hex[:10]}")
        herd_url, store_url = url, url
    else:
        server = request.getfixturevalue("influx_server")
        herd_url = f"sqlite:///{folder / 'herd.db'}"
        store_url = server.url_with(database=f"{prefix}_{uuid.uuid4().hex[:10]}")
    upgrade_herd_db(herd_url)
    engine = make_engine(herd_url)
    store = open_sensor_store(store_url)
    store.ensure_schema()
    try:
        yield store, engine
    finally:
        store.close()
        engine.dispose()
        if url is not None:
            drop_database(PG_ADMIN_URL, url)
