"""The Alembic history creates the same herd schema on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from smx_assets.domain.herd_db import Base
from smx_assets.domain.herd_db_migrate import upgrade_herd_db


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_create_every_model_table_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    assert set(Base.metadata.tables) <= _tables(url)
    assert "alembic_version" in _tables(url)


def test_migrations_create_every_model_table_on_postgres(pg_url: str) -> None:
    upgrade_herd_db(pg_url)
    assert set(Base.metadata.tables) <= _tables(pg_url)


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    upgrade_herd_db(url)  # second call in-process is a no-op
    from smx_assets.domain import herd_db_migrate

    herd_db_migrate._done.clear()
    upgrade_herd_db(url)  # and a real second alembic upgrade changes nothing
    assert set(Base.metadata.tables) <= _tables(url)
