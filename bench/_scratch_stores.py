"""A throw-away sensor store per backend for the ingest benchmarks (InfluxDB started here, a
SQLite file, or a temporary PostgreSQL database), removed when the block ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.sensor_store.factory import open_sensor_store

BACKENDS = ("influx", "sqlite", "postgres")
# Issue 2's ingest targets for 1,000 animals x 30 days; benchmarks scale them to their size.
LOAD_TARGET_S = {"influx": 60.0, "sqlite": 120.0, "postgres": 120.0}


@contextmanager
def scratch_store(backend: str, folder: Path, pg_url: str) -> Iterator[tuple[SensorStore, int | None]]:
    """(store, influxd pid or None) for ``backend``; ``folder`` holds the files it needs."""
    if backend == "influx":
        from smx_assets.devtools.influx_server import InfluxServer

        with InfluxServer.start(folder / "influxdb") as server:
            yield open_sensor_store(server.url), server.pid
    elif backend == "sqlite":
        yield open_sensor_store(f"sqlite:///{folder / 'sensors.db'}"), None
    elif backend == "postgres":
        from smx_assets.devtools.scratch_databases import scratch_database

        with scratch_database(pg_url, prefix="smx_bench") as url:
            yield open_sensor_store(url), None
    else:
        raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
