"""predictions partitioned by day on PostgreSQL

Every bucket writes one prediction row per animal and model (about 85 million a day at 100,000
animals), so retention must be cheap: on PostgreSQL ``predictions`` becomes a declaratively
partitioned table (``PARTITION BY RANGE (bucket_start)``, one partition a UTC day named
``predictions_pYYYYMMDD``), and dropping a day is a ``DROP TABLE`` of its partition instead of a
``DELETE`` that scans and bloats the table. Partitions are created ahead by the retention job and
on demand by the prediction writer (``domain/prediction_partitions.py``); the primary key becomes
``(id, bucket_start)`` because a partitioned table's unique keys must hold the partition key (the
unique prediction key already does). Existing rows are copied into their day's partition.

SQLite keeps the plain table (retention deletes rows there).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = """
    id BIGINT NOT NULL DEFAULT nextval('predictions_id_seq'),
    use_case VARCHAR(32) NOT NULL,
    animal_id INTEGER NOT NULL,
    bucket_start TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    shadow BOOLEAN NOT NULL,
    model_name VARCHAR(128) NOT NULL,
    model_version VARCHAR(32) NOT NULL,
    model_alias VARCHAR(32),
    mlflow_run_id VARCHAR(64),
    code_version VARCHAR(64) NOT NULL,
    partition_key VARCHAR(32) NOT NULL,
    dagster_run_id VARCHAR(64),
    feature_ref VARCHAR(256),
    scored_at TIMESTAMP WITHOUT TIME ZONE NOT NULL
"""


def _rename_old() -> None:
    op.execute("ALTER TABLE predictions RENAME TO predictions_old")
    op.execute("ALTER TABLE predictions_old RENAME CONSTRAINT pk_predictions TO pk_predictions_old")
    op.execute("ALTER TABLE predictions_old RENAME CONSTRAINT uq_predictions_key TO uq_predictions_key_old")
    op.execute("ALTER INDEX ix_predictions_bucket RENAME TO ix_predictions_bucket_old")
    op.execute("ALTER INDEX ix_predictions_partition RENAME TO ix_predictions_partition_old")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_old()
    op.execute(f"""CREATE TABLE predictions ({COLUMNS},
        CONSTRAINT pk_predictions PRIMARY KEY (id, bucket_start),
        CONSTRAINT uq_predictions_key UNIQUE (use_case, model_name, model_version, animal_id, bucket_start)
    ) PARTITION BY RANGE (bucket_start)""")
    op.execute("CREATE INDEX ix_predictions_bucket ON predictions (bucket_start, use_case)")
    op.execute("CREATE INDEX ix_predictions_partition ON predictions (partition_key)")
    days = [r[0] for r in op.get_bind().execute(sa.text(
        "SELECT DISTINCT date_trunc('day', bucket_start) FROM predictions_old ORDER BY 1"))]
    days += [r[0] for r in op.get_bind().execute(sa.text(
        "SELECT generate_series(date_trunc('day', now() AT TIME ZONE 'UTC'), "
        "date_trunc('day', now() AT TIME ZONE 'UTC') + interval '7 days', interval '1 day')"))]
    for day in sorted(set(days)):
        name = f"predictions_p{day:%Y%m%d}"
        op.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF predictions "
                   f"FOR VALUES FROM ('{day:%Y-%m-%d}') TO ('{day:%Y-%m-%d}'::date + 1)")
    op.execute("INSERT INTO predictions SELECT id, use_case, animal_id, bucket_start, score, shadow, model_name, "
               "model_version, model_alias, mlflow_run_id, code_version, partition_key, dagster_run_id, "
               "feature_ref, scored_at FROM predictions_old")
    op.execute("ALTER SEQUENCE predictions_id_seq OWNED BY predictions.id")
    op.execute("DROP TABLE predictions_old")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rename_old()
    op.execute(f"""CREATE TABLE predictions ({COLUMNS},
        CONSTRAINT pk_predictions PRIMARY KEY (id),
        CONSTRAINT uq_predictions_key UNIQUE (use_case, model_name, model_version, animal_id, bucket_start)
    )""")
    op.execute("CREATE INDEX ix_predictions_bucket ON predictions (bucket_start, use_case)")
    op.execute("CREATE INDEX ix_predictions_partition ON predictions (partition_key)")
    op.execute("INSERT INTO predictions SELECT id, use_case, animal_id, bucket_start, score, shadow, model_name, "
               "model_version, model_alias, mlflow_run_id, code_version, partition_key, dagster_run_id, "
               "feature_ref, scored_at FROM predictions_old")
    op.execute("ALTER SEQUENCE predictions_id_seq OWNED BY predictions.id")
    op.execute("DROP TABLE predictions_old")  # drops every day partition with it
