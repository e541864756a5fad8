"""Create or upgrade the herd database schema with Alembic, and check it before use.

Migration happens at start-up, never inside a run: ``smx migrate`` (a deployment step),
``smx simulate``/``smx demo`` and ``make ui`` call :func:`upgrade_herd_db`, so a fresh SQLite
file and a production PostgreSQL follow the same migration history. The Dagster resource only
checks (:func:`require_current_schema`: one ``SELECT`` on ``alembic_version``) and a run against
an out-of-date schema fails at once saying what to run, instead of running Alembic inside the
first ``engine()`` call of a ten-minute scoring run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from smx_assets.domain.sql_engine import make_engine

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_lock = threading.Lock()
_done: set[str] = set()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class HerdDbSchemaError(RuntimeError):
    """The herd DB schema is missing or not at the revision this code needs."""


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration of this code (read once per process from the migrations folder)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise HerdDbSchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database records (None: never migrated)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def require_current_schema(engine: Engine) -> None:
    """Fail fast with the command to run when the schema is not at this code's head revision."""
    found, wanted = current_revision(engine), head_revision()
    if found != wanted:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no herd schema" if found is None else f"is at schema revision {found}"
        raise HerdDbSchemaError(f"herd DB {where} {state}, this code needs {wanted}: run `smx migrate` "
                                "(with the same SMX_HERD_DB_URL) before starting runs")


# pg_advisory_xact_lock key of the herd DB migration (any fixed 64-bit number; "smxherd" in ASCII).
MIGRATION_LOCK_KEY = 0x736D7868657264


@contextlib.contextmanager
def _across_processes(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file between processes (a lock file beside it).

    Two first ``smx demo`` at once both found no ``alembic_version``, both migrated, and left
    two rows in it ("more than one head present": every later command failed). PostgreSQL
    serialises with an advisory lock inside the migration's transaction instead.
    """
    db = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not db or db == ":memory:" or db.startswith("file:"):
        yield
        return
    import filelock

    path = Path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path) + ".migrate.lock", timeout=300):
        yield


def upgrade_herd_db(url_or_engine: str | Engine, revision: str = "head", features_path: str | None = None) -> list[str]:
    """Bring the schema to ``revision``; cheap no-op after the first call per URL in a process.

    Safe when several processes start on a fresh database at once: one migrates, the others
    wait for it and find the schema current. ``features_path``: where the score store lives
    (migration 0004 moves an earlier ``predictions`` table there; default: the settings').
    Returns what the migrations report (the moved predictions, counted), one line each."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    key = engine.url.render_as_string(hide_password=True)
    with _lock:
        if revision == "head" and key in _done:
            return []
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        if features_path is not None:
            cfg.attributes["features_path"] = features_path
        with _across_processes(engine), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        _done.add(key)
        log.info("herd DB %s at %s", key, revision)
    if isinstance(url_or_engine, str):
        engine.dispose()
    moved = cfg.attributes.get("moved_predictions")
    return moved.lines() if moved is not None and moved.rows_before else []
