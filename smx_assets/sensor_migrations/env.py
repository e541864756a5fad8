"""Alembic environment for the SQL sensor store (``bolus_readings``, ``climate_readings``).

A history of its own, apart from the herd database's: the two stores may be separate databases
(the embedded default keeps ``sensors.db`` and ``herd.db``) or one PostgreSQL database, so the
version table has its own name and the two histories never collide. Run by
``SqlSensorStore.ensure_schema`` and ``smx migrate``.
"""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "alembic_version_sensor_store"

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=None, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called with a connection
    raise RuntimeError("sensor-store migrations run through SqlSensorStore.ensure_schema")
_run(connection)
