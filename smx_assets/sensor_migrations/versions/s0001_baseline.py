"""sensor store baseline: bolus_readings and climate_readings as created before migrations

Stores created by the earlier ``create_all`` already have these tables: they are kept as they
are (the revision is only recorded), so an existing deployment upgrades in place.

Revision ID: s0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    meta = sa.MetaData()
    sa.Table(
        "bolus_readings", meta,
        sa.Column("animal_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("temp_c", sa.Float, nullable=False),
        sa.Column("activity", sa.Float, nullable=False),
        sa.Column("ph", sa.Float, nullable=True),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Index("ix_bolus_readings_ts", "ts"),
        sa.Index("ix_bolus_readings_received_at", "received_at"),
        sqlite_with_rowid=False,
    )
    sa.Table(
        "climate_readings", meta,
        sa.Column("sensor_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("air_temp_c", sa.Float, nullable=False),
        sa.Column("rh_pct", sa.Float, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Index("ix_climate_readings_ts", "ts"),
        sqlite_with_rowid=False,
    )
    meta.create_all(bind, tables=[t for n, t in meta.tables.items() if n not in existing])


def downgrade() -> None:
    op.drop_table("climate_readings")
    op.drop_table("bolus_readings")
