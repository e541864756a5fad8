"""readings carry their interval; temperature and activity may be missing

A neck collar reports activity every 2 hours and no temperature; a bolus reports temperature
and activity every 10 minutes. ``interval_s`` (default 600 for every existing row) says how long
a reading summarises, and ``temp_c``/``activity`` become nullable like ``ph``.

SQLite cannot drop NOT NULL in place and Alembic's batch mode would rebuild the table without
``WITHOUT ROWID``, so on SQLite the table is rebuilt here by hand with the same clustering.

Revision ID: s0002
Revises: s0001
"""
from __future__ import annotations

from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None

_SQLITE_NEW = """
CREATE TABLE bolus_readings_new (
    animal_id BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    temp_c FLOAT,
    activity FLOAT,
    ph FLOAT,
    received_at BIGINT NOT NULL,
    interval_s INTEGER NOT NULL DEFAULT 600,
    PRIMARY KEY (animal_id, ts)
) WITHOUT ROWID
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_SQLITE_NEW)
        op.execute(
            "INSERT INTO bolus_readings_new (animal_id, ts, temp_c, activity, ph, received_at) "
            "SELECT animal_id, ts, temp_c, activity, ph, received_at FROM bolus_readings"
        )
        op.execute("DROP TABLE bolus_readings")
        op.execute("ALTER TABLE bolus_readings_new RENAME TO bolus_readings")
        op.execute("CREATE INDEX ix_bolus_readings_ts ON bolus_readings (ts)")
        op.execute("CREATE INDEX ix_bolus_readings_received_at ON bolus_readings (received_at)")
    else:
        # PostgreSQL 11+: a constant default is metadata only, no table rewrite
        op.execute("ALTER TABLE bolus_readings ADD COLUMN interval_s INTEGER NOT NULL DEFAULT 600")
        op.execute("ALTER TABLE bolus_readings ALTER COLUMN temp_c DROP NOT NULL")
        op.execute("ALTER TABLE bolus_readings ALTER COLUMN activity DROP NOT NULL")


def downgrade() -> None:
    op.execute("DELETE FROM bolus_readings WHERE temp_c IS NULL OR activity IS NULL")
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_SQLITE_NEW.replace("temp_c FLOAT,", "temp_c FLOAT NOT NULL,")
                   .replace("activity FLOAT,", "activity FLOAT NOT NULL,")
                   .replace("    interval_s INTEGER NOT NULL DEFAULT 600,\n", ""))
        op.execute("INSERT INTO bolus_readings_new SELECT animal_id, ts, temp_c, activity, ph, received_at "
                   "FROM bolus_readings")
        op.execute("DROP TABLE bolus_readings")
        op.execute("ALTER TABLE bolus_readings_new RENAME TO bolus_readings")
        op.execute("CREATE INDEX ix_bolus_readings_ts ON bolus_readings (ts)")
        op.execute("CREATE INDEX ix_bolus_readings_received_at ON bolus_readings (received_at)")
    else:
        op.execute("ALTER TABLE bolus_readings DROP COLUMN interval_s")
        op.execute("ALTER TABLE bolus_readings ALTER COLUMN temp_c SET NOT NULL")
        op.execute("ALTER TABLE bolus_readings ALTER COLUMN activity SET NOT NULL")
