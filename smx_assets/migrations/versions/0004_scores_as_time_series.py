"""scores as a time series: scoring_lineage in the herd DB, predictions moved out and dropped

Every score used to be a ``predictions`` row repeating its model, version, run ids, code version
and partition (287 bytes a score in PostgreSQL). Scores now live in the score store (Parquet
files under the feature store's path, ``domain/score_store``) and refer to one
``scoring_lineage`` row per run x shard x use case x model role. This migration creates that
table, moves every existing prediction into the score store (counted per use case and model:
the migration fails, and nothing changes, unless every row arrived) and drops ``predictions``
(on PostgreSQL with all its day partitions).

The score store's location is the one the running configuration names (``SMX_FEATURES_PATH``,
passed by ``upgrade_herd_db`` as ``features_path``); run ``smx migrate`` with the deployment's
settings.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scoring_lineage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.Column("partition_key", sa.String(length=32), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("shard", sa.String(length=32), nullable=False),
        sa.Column("use_case", sa.String(length=32), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("model_alias", sa.String(length=32), nullable=True),
        sa.Column("mlflow_run_id", sa.String(length=64), nullable=True),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("feature_ref", sa.String(length=512), nullable=True),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.Column("n_scores", sa.BigInteger(), nullable=True),
        sa.Column("buckets_scored", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_lineage")),
        sqlite_autoincrement=True,  # ids never reused (score files refer to them)
    )
    op.create_index("ix_scoring_lineage_window", "scoring_lineage", ["window_start", "use_case"])
    op.create_index(op.f("ix_scoring_lineage_dagster_run_id"), "scoring_lineage", ["dagster_run_id"])

    from smx_assets.domain.score_store.files import ScoreFiles
    from smx_assets.domain.score_store.legacy import move_predictions

    features_path = context.config.attributes.get("features_path")
    if features_path is None:
        from smx_assets import settings

        features_path = settings.current().features_path
    report = move_predictions(op.get_bind(), ScoreFiles(features_path))
    context.config.attributes["moved_predictions"] = report


def downgrade() -> None:
    raise NotImplementedError("scores are not moved back into a predictions table")
