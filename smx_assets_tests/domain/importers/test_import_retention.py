"""Importing history older than the sensor store keeps readings, on PostgreSQL and on InfluxDB.

Rows older than the readings retention window are rejected as ``beyond_retention`` (counted,
stored, one warning naming the setting): InfluxDB refuses them once its retention policy is set
(as ``smx migrate`` sets it), and on the SQL store the next daily retention run would delete them.
After the setting is raised, importing the same file again writes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.importers import import_paths
from smx_assets.domain.retention import cutoff_day
from smx_assets_tests.domain.importers.stores import KINDS, import_stores

DAY = pd.Timedelta(days=1)


@pytest.fixture(params=KINDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple]:
    with import_stores(request.param, request, tmp_path, "ret") as (store, engine):
        yield request.param, store, engine


def _set_retention(store, days: int, now: pd.Timestamp) -> None:  # type: ignore[no-untyped-def]
    """What ``smx migrate`` does: InfluxDB gets the retention policy (the SQL store has none)."""
    enforce = getattr(store, "enforce_retention", None)
    if enforce is not None and type(store).__name__.lower().startswith("influx"):
        enforce(days, pd.Timestamp(cutoff_day(now, days), tz="UTC"))


def test_readings_older_than_retention_are_counted_and_come_in_after_the_setting_is_raised(
        stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kind, store, engine = stores
    now = pd.Timestamp.now(tz="UTC").floor("10min")
    stamps = [now - 100 * DAY, now - 70 * DAY, now - 10 * DAY, now - DAY]
    rows = [{"cow_number": 5, "timestamp": t.isoformat(), "interval_minutes": 120, "activity": 30.0 + i}
            for i, t in enumerate(stamps)]
    rows.insert(1, {"cow_number": 5, "timestamp": (now - 100 * DAY + pd.Timedelta(hours=2)).isoformat(),
                 "interval_minutes": 120, "activity": None})  # old *and* empty: its own reason wins
    # (not the cow's last row: that one would be a footer)
    path = tmp_path / "history.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    _set_retention(store, 60, now)

    first = import_paths([path], farm="f", store=store, engine=engine, now=now, readings_retention_days=60)
    f = first.files[0]
    assert first.ok and f.status == "imported"
    assert f.rows_read == 5 == f.rows_written + f.rows_rejected
    assert f.rows_written == 2 and f.rejected == {"beyond_retention": 2, "empty_activity": 1}
    [warning] = first.warnings()
    assert "SMX_RETENTION_READINGS_DAYS" in warning and "2 readings" in warning
    assert str(cutoff_day(now, 60)) in warning and "\n" not in warning
    span = (now - 200 * DAY, now + DAY)
    assert len(store.read_bolus(*span)) == 2
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text(
            "SELECT reason, COUNT(*) FROM rejected_readings GROUP BY reason")).all())
    assert stored == {"beyond_retention": 2, "empty_activity": 1}

    again = import_paths([path], farm="f", store=store, engine=engine, now=now, readings_retention_days=60)
    assert again.files[0].status == "unchanged" and len(store.read_bolus(*span)) == 2

    _set_retention(store, 200, now)  # the setting raised (and smx migrate run)
    raised = import_paths([path], farm="f", store=store, engine=engine, now=now, readings_retention_days=200)
    r = raised.files[0]
    assert r.status == "imported", f"{kind}: a file held back by retention is imported again"
    assert r.rows_read == 5 == r.rows_written + r.rows_rejected
    assert r.rows_written == 2 and r.rejected == {"duplicate": 2, "empty_activity": 1} and not raised.warnings()
    got = store.read_bolus(*span)
    assert sorted(got["activity"].tolist()) == [30.0, 31.0, 32.0, 33.0]
    with engine.connect() as conn:
        files = conn.execute(sa.text("SELECT COUNT(*) FROM imported_files")).scalar_one()
        stored = dict(conn.execute(sa.text(
            "SELECT reason, COUNT(*) FROM rejected_readings GROUP BY reason")).all())
    assert files == 1  # the file's record replaced, not doubled
    assert stored == {"duplicate": 2, "empty_activity": 1}  # the batch's rejections replaced
    last = import_paths([path], farm="f", store=store, engine=engine, now=now, readings_retention_days=200)
    assert last.files[0].status == "unchanged"


def test_without_a_retention_window_nothing_is_held_back(stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _kind, store, engine = stores
    path = tmp_path / "old.csv"
    pd.DataFrame([{"cow_number": 1, "timestamp": "2019-02-01T00:00:00Z", "interval_minutes": 120,
                   "activity": 12.0}]).to_csv(path, index=False)
    report = import_paths([path], farm="f", store=store, engine=engine)  # scratch stores: keep all
    assert report.files[0].rows_written == 1 and not report.warnings()
