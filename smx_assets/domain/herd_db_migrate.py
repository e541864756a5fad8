"""Create or upgrade the herd database schema with Alembic.

Every entry point (CLI, Dagster resource, tests) calls ``upgrade_herd_db`` before touching the
herd DB, so a fresh SQLite file and a production PostgreSQL follow the same migration history.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import make_engine

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_lock = threading.Lock()
_done: set[str] = set()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_herd_db(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; cheap no-op after the first call per URL in a process."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    key = engine.url.render_as_string(hide_password=True)
    with _lock:
        if revision == "head" and key in _done:
            return
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        _done.add(key)
        log.info("herd DB %s at %s", key, revision)
    if isinstance(url_or_engine, str):
        engine.dispose()
