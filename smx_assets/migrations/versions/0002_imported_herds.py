"""imported herds: the farm's own cow number, herd status, optional birth date, imported files

Real exports (SCR Heatime and other vendors) identify a cow by the farm's own number, carry
its status, and know no birth date; ``imported_files`` records each imported file by content
hash so re-importing it changes nothing.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("animals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cow_number", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=32), nullable=True))
        batch_op.alter_column("birth_date", existing_type=sa.Date(), nullable=True)
        batch_op.create_unique_constraint("uq_animals_farm_cow_number", ["farm_id", "cow_number"])
    op.create_table(
        "imported_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=32), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["farm_id"], ["farms.id"], name=op.f("fk_imported_files_farm_id_farms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_files")),
        sa.UniqueConstraint("farm_id", "sha256", name="uq_imported_files_farm_sha"),
    )
    with op.batch_alter_table("imported_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_files_farm_id"), ["farm_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("imported_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_files_farm_id"))
    op.drop_table("imported_files")
    with op.batch_alter_table("animals", schema=None) as batch_op:
        batch_op.drop_constraint("uq_animals_farm_cow_number", type_="unique")
        batch_op.alter_column("birth_date", existing_type=sa.Date(), nullable=False)
        batch_op.drop_column("status")
        batch_op.drop_column("cow_number")
