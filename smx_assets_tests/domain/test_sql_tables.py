"""Herd records read by ``COPY`` on PostgreSQL equal what ``read_sql`` gives, and what SQLite gives.

A simulated herd plus rows with the awkward values a CSV round trip could bend: NULL and empty
texts, NULL booleans and dates, timestamps with microseconds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.features.profile import _RECORD_COLUMNS, load_herd_records
from smx_assets.domain.herd_db import Base
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.sql_tables import read_table


def _herd_db(url: str, sim: object) -> sa.Engine:
    upgrade_herd_db(url)
    engine = make_engine(url)
    write_herd(sim, engine)  # type: ignore[arg-type]
    meta = Base.metadata.tables
    with engine.begin() as conn:
        animal = conn.execute(sa.select(meta["animals"].c.id).limit(1)).scalar_one()
        conn.execute(meta["treatments"].insert(), [
            {"animal_id": animal, "diagnosed_at": dt.datetime(2026, 10, 3, 7, 1, 2, 345678), "diagnosis": "",
             "treatment": None, "recorded_at": dt.datetime(2026, 10, 3, 8)},
            {"animal_id": animal, "diagnosed_at": dt.datetime(2026, 10, 4), "diagnosis": 'a "quoted", text',
             "treatment": "x", "recorded_at": dt.datetime(2026, 10, 4, 1)},
        ])
        conn.execute(meta["inseminations"].insert(), [
            {"animal_id": animal, "at": dt.datetime(2026, 10, 2), "sire": None, "recorded_at": dt.datetime(2026, 10, 2),
             "pregnancy_check_at": None, "pregnant": None},
        ])
    return engine


def test_copy_reads_equal_read_sql_and_sqlite(pg_url: str, tmp_path: Path) -> None:
    sim = simulate(SimConfig(n_animals=40, days=20, seed=3, start=dt.date(2026, 9, 20)))
    pg = _herd_db(pg_url, sim)
    lite = _herd_db(f"sqlite:///{tmp_path / 'herd.db'}", sim)
    meta = Base.metadata.tables
    for name, columns in _RECORD_COLUMNS.items():
        got = read_table(pg, meta[name], columns)
        want = pd.read_sql_query(sa.select(*[meta[name].c[c] for c in columns]), pg)
        assert len(got) == len(want) > 0, name
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=name)
    assert read_table(pg, meta["treatments"], ["diagnosis"])["diagnosis"].isin(["", 'a "quoted", text']).sum() == 2
    a, b = load_herd_records(pg), load_herd_records(lite)
    for name in a.TABLES:
        left, right = getattr(a, name), getattr(b, name)
        key = [c for c in left.columns if c not in ("pregnant",)]
        pd.testing.assert_frame_equal(left.sort_values(key, ignore_index=True), right.sort_values(key, ignore_index=True),
                                      obj=name)
    pg.dispose()
    lite.dispose()
