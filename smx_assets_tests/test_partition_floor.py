"""Days before any data are not partitions: the first day of data that `smx simulate`/`smx import`
record in $SMX_HOME/data_start is the daily partitions' start when SMX_PARTITIONS_START is unset."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
from collections.abc import Iterator

import pytest

from smx_assets import settings


@pytest.fixture
def reload_partitions(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    import smx_assets.defs.partitions as partitions

    yield lambda: importlib.reload(partitions)
    monkeypatch.undo()  # the suite's own variables back before the module is rebuilt from them
    importlib.reload(partitions)


def test_recorded_first_day_is_the_partition_start(smx_home, monkeypatch, reload_partitions) -> None:
    monkeypatch.delenv("SMX_PARTITIONS_START", raising=False)
    monkeypatch.setenv("SMX_DAILY_WINDOW_DAYS", "730")
    today = dt.datetime.now(dt.timezone.utc).date()
    assert settings.Settings.from_env().partitions.start == ""  # nothing recorded: no floor
    first = today - dt.timedelta(days=50)
    assert settings.record_data_start(first, smx_home) == first.isoformat()
    # a later import does not move the floor forward; an earlier one moves it back
    assert settings.record_data_start(first + dt.timedelta(days=10), smx_home) == first.isoformat()
    assert settings.Settings.from_env().partitions.start == first.isoformat()
    partitions = reload_partitions()
    assert partitions.PARTITIONS_START == first.isoformat()  # 50 daily partitions, not 730
    assert partitions.daily_partitions.get_first_partition_key() == first.isoformat()
    # SMX_PARTITIONS_START still decides when set
    monkeypatch.setenv("SMX_PARTITIONS_START", (first + dt.timedelta(days=5)).isoformat())
    assert settings.Settings.from_env().partitions.start == (first + dt.timedelta(days=5)).isoformat()


def test_a_corrupt_record_is_a_one_line_settings_error(smx_home, monkeypatch) -> None:
    monkeypatch.delenv("SMX_PARTITIONS_START", raising=False)
    (smx_home / settings.DATA_START_FILE).write_text("yesterday\n")
    with pytest.raises(settings.SettingsError, match="data_start holds 'yesterday'"):
        settings.Settings.from_env()


def test_smx_simulate_records_its_first_day(smx_home, monkeypatch) -> None:
    monkeypatch.delenv("SMX_PARTITIONS_START", raising=False)
    from smx_assets.commands import simulate

    start = dt.date(2026, 9, 1)
    simulate.run(argparse.Namespace(animals=20, days=4, seed=1, start=start, farms=2, live=False, steps=1,
                                    herd_db_url=None, sensor_store_url=None))
    assert settings.recorded_data_start(smx_home) == "2026-09-01"
