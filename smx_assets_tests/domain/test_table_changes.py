"""The herd DB's change token and the cache that reloads only when it moves (the API's records
and cow index), on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from smx_assets.api.stores import RECORD_TABLES, cow_index
from smx_assets.domain.herd_db import Base
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.scoring.on_demand import TimedCache
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.table_changes import ChangeToken


@pytest.fixture(params=["sqlite", "postgresql"])
def herd_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'herd.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade_herd_db(url)
    engine = make_engine(url)
    t = Base.metadata.tables
    with engine.begin() as conn:
        conn.execute(t["farms"].insert(), [{"id": 1, "name": "Hof", "timezone": "UTC", "default_housing": "barn"}])
        conn.execute(t["animals"].insert(), [{"id": i, "farm_id": 1, "ear_tag": f"DE{i}", "cow_number": str(i)}
                                             for i in (1, 2)])
    engine.dispose()
    return url


def test_token_moves_on_insert_update_and_same_id_reinsert_only(herd_url: str) -> None:
    engine = make_engine(herd_url)
    token = ChangeToken(engine, RECORD_TABLES)
    animals = Base.metadata.tables["animals"]
    try:
        first = token.current()
        assert first is not None
        with engine.connect() as conn:  # reads change nothing
            conn.execute(sa.select(animals)).all()
        assert token.current() == first

        seen = [first]
        with engine.begin() as conn:
            conn.execute(animals.insert(), [{"id": 3, "farm_id": 1, "ear_tag": "DE3", "cow_number": "3"}])
        seen.append(token.current())
        with engine.begin() as conn:  # in place: count and ids unchanged
            conn.execute(animals.update().where(animals.c.id == 2).values(cow_number="20"))
        seen.append(token.current())
        with engine.begin() as conn:  # deleted and written again with the same id (the simulator loader)
            conn.execute(animals.delete().where(animals.c.id == 3))
            conn.execute(animals.insert(), [{"id": 3, "farm_id": 1, "ear_tag": "DE3", "cow_number": "3"}])
        seen.append(token.current())
        assert len(set(seen)) == 4, seen
        assert token.current() == seen[-1]
    finally:
        token.close()
        engine.dispose()


def test_cache_reloads_only_after_a_change_and_after_its_maximum_age(herd_url: str) -> None:
    engine = make_engine(herd_url)
    token = ChangeToken(engine, RECORD_TABLES)
    now = [0.0]
    cache = TimedCache(lambda: cow_index(engine), ttl_s=1.0, clock=lambda: now[0], token=token.current,
                       max_age_s=100.0)
    animals = Base.metadata.tables["animals"]
    try:
        assert cache.get() == {("Hof", "1"): 1, ("Hof", "2"): 2}
        for _ in range(5):  # the refresher's ticks with nothing written: no reload
            now[0] += 2
            cache.refresh()
            cache.get()
        assert cache.computations == 1

        with engine.begin() as conn:  # a cow registered: the next due read sees her
            conn.execute(animals.insert(), [{"id": 7, "farm_id": 1, "ear_tag": "DE7", "cow_number": "7"}])
        assert ("Hof", "7") not in cache.get()  # not due yet (ttl)
        now[0] += 2
        assert cache.get()[("Hof", "7")] == 7
        assert cache.computations == 2

        now[0] += 101  # unchanged, but older than max_age_s: read again
        cache.refresh()
        assert cache.computations == 3
    finally:
        token.close()
        engine.dispose()


def test_no_token_for_an_in_memory_database_means_always_reload() -> None:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    token = ChangeToken(engine, RECORD_TABLES)
    calls = []
    cache = TimedCache(lambda: calls.append(1) or len(calls), ttl_s=0.0, token=token.current)
    assert token.current() is None
    cache.refresh()
    cache.refresh()
    assert cache.computations == 2 and calls == [1, 1]
