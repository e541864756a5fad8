"""Shared fixtures: real stores only.

* ``pg_url``: a fresh database on the machine's PostgreSQL (``SMX_TEST_PG_URL`` to point
  elsewhere), dropped afterwards.
* ``influx_server``: one real InfluxDB 1.x server for the session, installed from Debian's
  package if missing and started on free loopback ports in a temporary folder.
* ``smx_home``: an isolated embedded-default folder with ``SMX_HOME`` pointing at it.

The test herds live at fixed dates from ``TEST_DATA_START`` (2026-09-01), so their simulated
seasons and results do not move with the clock. The partition windows roll with the clock
(``smx_assets.domain.partition_window``), so the suite widens them to reach back to that day,
before anything imports the code location (subprocesses inherit the variables).
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TEST_DATA_START = dt.date(2026, 9, 1)
_DAYS_BACK = (dt.datetime.now(dt.timezone.utc).date() - TEST_DATA_START).days + 1
os.environ.setdefault("SMX_PARTITIONS_START", TEST_DATA_START.isoformat())
os.environ.setdefault("SMX_SCORES_WINDOW_DAYS", str(max(90, _DAYS_BACK)))
os.environ.setdefault("SMX_DAILY_WINDOW_DAYS", str(max(730, _DAYS_BACK)))
# The herds' readings are months old: a readings retention shorter than that would make
# InfluxDB refuse them once a test applies the retention policy.
os.environ.setdefault("SMX_RETENTION_READINGS_DAYS", str(max(60, _DAYS_BACK + 30)))

# A test that names no home of its own (most use a scenario's or ``smx_home``) must not write
# the checkout's ./.smx, nor share it with another pytest process (pytest-xdist workers, a
# second checkout's run): one temporary home per process.
_PROCESS_HOME = tempfile.mkdtemp(prefix="smx_test_home_")
atexit.register(shutil.rmtree, _PROCESS_HOME, ignore_errors=True)
os.environ.setdefault("SMX_HOME", _PROCESS_HOME)

PG_ADMIN_URL = os.environ.get("SMX_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@contextmanager
def _scratch_pg() -> Iterator[str]:
    from smx_assets.devtools.scratch_databases import scratch_database

    with scratch_database(PG_ADMIN_URL, prefix="smx_test") as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with _scratch_pg() as url:
        yield url


@pytest.fixture(scope="session")
def pg_url_session() -> Iterator[str]:
    with _scratch_pg() as url:
        yield url


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from smx_assets.devtools.influx_server import InfluxServer

    server = InfluxServer.start(tmp_path_factory.mktemp("influxdb"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smx_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "smx_home"
    home.mkdir()
    monkeypatch.setenv("SMX_HOME", str(home))
    for var in ("SMX_HERD_DB_URL", "SMX_SENSOR_STORE_URL", "MLFLOW_TRACKING_URI", "SMX_FEATURES_PATH"):
        monkeypatch.delenv(var, raising=False)
    return home


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files marked ``slow`` first. Why: ``make test`` hands whole files to pytest-xdist's
    workers in collection order (``--dist loadfile --no-loadscope-reorder``); a five-minute file
    collected last would run alone on one worker while the other sits idle."""
    slow_files = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_files)  # stable: the rest keeps its order
