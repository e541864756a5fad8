"""full cow numbers: animals.cow_number VARCHAR(64), animals.ear_tag VARCHAR(96)

The importer cut cow numbers to 32 characters, and the ear tag ``<farm id>-<cow number>`` too:
three 33-character numbers became one animal, and two 32-character numbers differing in the
last character collided on the ear tag. Cow numbers are now never cut (longer than 64 is
rejected as ``malformed``), so the columns are widened to hold a 64-character number and its
ear tag in full.

PostgreSQL: a widening ``ALTER COLUMN ... TYPE VARCHAR(n)`` (no table rewrite, rows untouched).
SQLite does not enforce a VARCHAR length, so nothing changes there: recreating ``animals``
would copy every table that refers to it for no difference in what it accepts.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column("animals", "cow_number", existing_type=sa.String(length=32), type_=sa.String(length=64),
                    existing_nullable=True)
    op.alter_column("animals", "ear_tag", existing_type=sa.String(length=32), type_=sa.String(length=96),
                    existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column("animals", "ear_tag", existing_type=sa.String(length=96), type_=sa.String(length=32),
                    existing_nullable=False)
    op.alter_column("animals", "cow_number", existing_type=sa.String(length=64), type_=sa.String(length=32),
                    existing_nullable=True)
