"""SQLAlchemy engines with the settings the platform's databases need (herd DB, SQL sensor store).

The lowest layer, next to the sensor stores: the SQL sensor store and the herd DB both build
their engines here, so the store does not import the herd DB module above it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from smx_assets.domain.redaction import normalise_url, register_url


def make_engine(url: str, *, connect_timeout_s: int = 10, **kwargs: Any) -> Engine:
    """An engine with the pragmas the embedded SQLite default needs to be safe under Dagster.

    WAL lets the webserver read while a run writes; the busy timeout turns a momentary lock
    into a wait instead of ``database is locked``. ``connect_timeout_s`` bounds a PostgreSQL
    connect (``SMX_DB_CONNECT_TIMEOUT_S`` through the settings; a URL's own
    ``connect_timeout`` wins). Credentials written unencoded are percent-encoded first (a
    ``#`` or ``/`` in a password must not end the host part) and registered for masking.
    """
    register_url(url)
    url = normalise_url(url)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_pre_ping", True)
        if url.startswith("postgresql") and "connect_timeout" not in url:
            # libpq waits forever for a server that accepts TCP but never answers (a hung
            # PgBouncer, a half-open firewall): bound it so a run fails instead of hanging.
            connect_args = dict(kwargs.get("connect_args") or {})
            connect_args.setdefault("connect_timeout", connect_timeout_s)
            kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


SQL_BACKENDS = ("sqlite", "postgresql")  # what the herd DB's migrations and the SQL sensor store are written for


def check_sql_url(url: str, backends: tuple[str, ...] | None = SQL_BACKENDS) -> None:
    """Raise ``ValueError`` (one short reason, no URL in it) unless ``url`` is a SQLAlchemy URL an
    engine can be made of: its form and numeric port, a backend in ``backends`` (``None``: any
    SQLAlchemy knows), the dialect loadable and its DBAPI driver importable.

    Nothing is connected or created. Why here and at start: an uninstalled driver
    (``postgresql://`` means psycopg 3 in SQLAlchemy 2.1, which is not installed) or a port
    ``:abc`` otherwise failed minutes into a demo, after the home, the simulation and the first
    Dagster runs were made.
    """
    from sqlalchemy import exc as sa_exc
    from sqlalchemy import make_url

    try:
        parsed = make_url(normalise_url(url))
    except sa_exc.ArgumentError:
        raise ValueError("not a SQLAlchemy URL (dialect+driver://user:password@host:port/database)") from None
    except ValueError:  # make_url casts the port: ``host:abc``
        raise ValueError("the port is not a number from 1 to 65535") from None
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"port {parsed.port} is not a number from 1 to 65535")
    backend = parsed.get_backend_name()
    if backends is not None and backend not in backends:
        raise ValueError(f"the database {backend!r} is not supported (use {' or '.join(backends)})")
    try:
        dialect = parsed.get_dialect()
    except sa_exc.NoSuchModuleError:
        raise ValueError(f"SQLAlchemy has no dialect {parsed.drivername!r}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        hint = ", e.g. postgresql+psycopg2://" if backend == "postgresql" else ""
        raise ValueError(f"the driver {dialect.driver!r} of {parsed.drivername} is not installed "
                         f"(No module named {exc.name!r}): name an installed driver{hint}") from None
