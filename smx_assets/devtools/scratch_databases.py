"""Throw-away PostgreSQL databases for the tests and benchmarks.

One home for "create a database beside the admin connection, hand out its URL, drop it after",
so every scratch store is made (and, above all, removed) the same way: ``WITH (FORCE)`` drops a
database even when a crashed run left connections open on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


def _admin(admin_url: str) -> sa.Engine:
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")


def database_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url`` (same user and password)."""
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    """(Re)create an empty database ``name``; any earlier one of that name is dropped first."""
    admin = _admin(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return database_url(admin_url, name)


def drop_database(admin_url: str, name_or_url: str) -> None:
    """Drop a database by name or URL, open connections and all; missing is fine."""
    name = sa.make_url(name_or_url).database if "://" in name_or_url else name_or_url
    admin = _admin(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def scratch_database(admin_url: str, prefix: str = "smx_scratch") -> Iterator[str]:
    """A new uniquely named database for the block, dropped when it ends (also on error)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)
