"""More than 100,000 animals in one InfluxDB database: InfluxDB 1.x refuses the readings of the
100,001st `animal_id` tag value by default (``max-values-per-tag``), which the 200,000-animal
benchmark hit as a partial write. The server config (tests, benchmarks, infra/influxdb) lifts it."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from smx_assets.devtools.influx_server import InfluxServer
from smx_assets.domain.sensor_store.factory import open_sensor_store

pytestmark = pytest.mark.influx

ROOT = Path(__file__).resolve().parents[3]
N_ANIMALS = 100_050  # past the default limit of 100,000 values per tag
T0 = pd.Timestamp("2026-11-30 12:00", tz="UTC")


def test_more_than_100000_animals_are_all_stored(influx_server: InfluxServer) -> None:
    database = f"t_fleet_{uuid.uuid4().hex[:8]}"
    store = open_sensor_store(influx_server.url_with(database=database))
    store.ensure_schema()
    try:
        ids = np.arange(1, N_ANIMALS + 1, dtype="int64")
        store.write_bolus(pd.DataFrame({
            "animal_id": ids, "ts": T0, "temp_c": 38.5, "activity": (ids % 50).astype("float64"), "ph": np.nan,
            "received_at": T0 + pd.Timedelta(minutes=1),
        }))
        back = store.read_bolus(T0, T0 + pd.Timedelta(minutes=10))
        assert len(back) == N_ANIMALS
        assert back["animal_id"].nunique() == N_ANIMALS
        assert int(back["animal_id"].max()) == N_ANIMALS
    finally:
        store.close()
        # 100,000 series in the session server's in-memory index: free them for later tests
        requests.post(influx_server.http_url + "/query",
                      params={"q": f'DROP DATABASE "{database}"'}, timeout=60).raise_for_status()


def test_production_config_lifts_the_limit_too() -> None:
    conf = (ROOT / "infra" / "influxdb" / "influxdb.conf").read_text()
    assert "\n  max-values-per-tag = 0\n" in conf
