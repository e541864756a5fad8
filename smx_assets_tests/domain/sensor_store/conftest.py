"""Fixtures of the sensor-store tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from smx_assets.devtools.influx_server import InfluxServer
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore


@pytest.fixture
def store(influx_server: InfluxServer) -> Iterator[InfluxSensorStore]:
    """A fresh, empty database on the session's real InfluxDB (``test_contract`` overrides this
    with one store per backend)."""
    s = open_sensor_store(influx_server.url_with(database=f"t_{uuid.uuid4().hex[:12]}"))
    assert isinstance(s, InfluxSensorStore)
    s.ensure_schema()
    yield s
    s.close()
