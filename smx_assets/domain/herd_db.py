"""The herd database: what a real farm management system holds, plus the platform's outputs
(alerts and the scoring lineage; the scores themselves live in the score store).

SQLAlchemy 2 declarative models that run unchanged on SQLite (embedded default) and
PostgreSQL (production). The schema is created and upgraded by Alembic migrations
(``smx_assets/migrations``); ``create_all`` is never used outside throwaway tests.

Timestamps are stored as timezone-naive UTC (``DateTime()``), because SQLite has no time
zones and mixing aware/naive values across the two engines is a classic source of skew.
Helpers ``to_db_ts``/``from_db_ts`` convert at the boundary.

Records a farmer enters late carry ``recorded_at``: model evaluation must only use labels that
had arrived at the time it pretends to be (delayed-label performance tracking).

``gt_events`` is the simulator's ground truth. Models and label rules never read it; only
evaluation code that measures detection performance on a simulated herd does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --------------------------------------------------------------------------- farm records


class Farm(Base):
    __tablename__ = "farms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    default_housing: Mapped[str] = mapped_column(String(16), default="barn")  # barn | pasture
    # Mean outdoor temperature offset of the farm's climate (simulator drift injection uses it).
    climate_profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ClimateSensor(Base):
    __tablename__ = "climate_sensors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"), index=True)
    location: Mapped[str] = mapped_column(String(16))  # barn | pasture
    name: Mapped[str] = mapped_column(String(100))


class Animal(Base):
    """A cow. ``cow_number`` is the farm's own number (unique per farm, shown in alerts); an
    imported export knows no birth date, so ``birth_date`` may be missing (age unknown)."""

    __tablename__ = "animals"
    __table_args__ = (UniqueConstraint("farm_id", "cow_number", name="uq_animals_farm_cow_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"), index=True)
    # the full cow number, never cut (migration 0005); an imported cow's ear tag is "<farm id>-<cow number>"
    ear_tag: Mapped[str] = mapped_column(String(96), unique=True)
    birth_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    cow_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the herd program's status at the latest import (Dry, Fresh, Pregnant, Heifer, ...)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    breed: Mapped[str] = mapped_column(String(32), default="Holstein")
    bolus_id: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    bolus_type: Mapped[str] = mapped_column(String(32), default="temp_activity")  # or temp_activity_ph
    bolus_inserted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    exit_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class HousingPeriod(Base):
    __tablename__ = "housing_periods"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # barn | pasture
    start: Mapped[dt.datetime] = mapped_column(DateTime())
    end: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)


class Lactation(Base):
    """A calving and the lactation it starts. ``recorded_at``: when the farmer entered it."""

    __tablename__ = "lactations"
    __table_args__ = (UniqueConstraint("animal_id", "lactation_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id"), index=True)
    lactation_number: Mapped[int] = mapped_column(Integer)
    calving_at: Mapped[dt.datetime] = mapped_column(DateTime(), index=True)
    ease: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1 (easy) .. 4 (surgical)
    calf_sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime())


class Insemination(Base):
    """An insemination and, once known, the pregnancy check that confirms or refutes it."""

    __tablename__ = "inseminations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(), index=True)
    sire: Mapped[str | None] = mapped_column(String(32), nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime())
    pregnancy_check_at: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    pregnant: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class Treatment(Base):
    """A diagnosis (mastitis, metritis, milk fever, ...) and its treatment."""

    __tablename__ = "treatments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animal_id: Mapped[int] = mapped_column(ForeignKey("animals.id"), index=True)
    diagnosed_at: Mapped[dt.datetime] = mapped_column(DateTime(), index=True)
    diagnosis: Mapped[str] = mapped_column(String(32))
    treatment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime())


# ----------------------------------------------------------------- simulator ground truth


class GtEvent(Base):
    """Simulator ground truth (heat, ovulation, calving, fever, ...). Never read by models."""

    __tablename__ = "gt_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animal_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    start: Mapped[dt.datetime] = mapped_column(DateTime())
    end: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    attrs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class SimulationState(Base):
    """Key/value state the simulator's live mode resumes from (seed, simulated-until, ...)."""

    __tablename__ = "simulation_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


# ------------------------------------------------------------------ ingestion rejections


class RejectedReading(Base):
    """A reading that failed validation, kept with its reason so nothing is silently lost."""

    __tablename__ = "rejected_readings"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # bolus | climate
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    rejected_at: Mapped[dt.datetime] = mapped_column(DateTime(), index=True)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    entity_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ts_raw: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ImportedFile(Base):
    """One imported export file, by content: what makes re-importing the same file a no-op.

    ``counts`` holds the file's import report (rows read, written, rejected per reason), so a
    re-import reports the same figures without touching any store.
    """

    __tablename__ = "imported_files"
    __table_args__ = (UniqueConstraint("farm_id", "sha256", name="uq_imported_files_farm_sha"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    farm_id: Mapped[int] = mapped_column(ForeignKey("farms.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(32))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime())
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_written: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)


# --------------------------------------------------------------------- platform outputs


class ScoringLineage(Base):
    """What one scoring run scored with, once per run x shard x use case x model role.

    Every stored score refers to one of these rows by ``id`` (the score store's ``lineage_id``)
    instead of repeating model name, version, MLflow run, code version, partition and Dagster run
    on each of a bucket's 600,000 scores (100,000 animals): the scores themselves are a time
    series in the score store (``domain/score_store``), the herd DB holds this table.

    ``feature_ref`` is the location of the run's stored feature vectors with ``{day}`` and
    ``{hhmm}`` left to fill (one file per bucket: ``lineage.feature_ref_for`` gives a bucket's).
    ``n_scores``: scores it wrote (set once the run's score files are in place; ``None`` while
    it runs, or when it died before).
    """

    __tablename__ = "scoring_lineage"
    # AUTOINCREMENT on SQLite too: an id is never handed out twice, even after the newest rows
    # went (a score file naming a reused id would take another run's lineage).
    __table_args__ = (Index("ix_scoring_lineage_window", "window_start", "use_case"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dagster_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    partition_key: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[dt.datetime] = mapped_column(DateTime())
    window_end: Mapped[dt.datetime] = mapped_column(DateTime())
    shard: Mapped[str] = mapped_column(String(32), default="")  # "" whole fleet, else shard-3-of-4
    use_case: Mapped[str] = mapped_column(String(32))
    shadow: Mapped[bool] = mapped_column(Boolean)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(32))
    model_alias: Mapped[str | None] = mapped_column(String(32), nullable=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_version: Mapped[str] = mapped_column(String(64))
    feature_ref: Mapped[str | None] = mapped_column(String(512), nullable=True)
    scored_at: Mapped[dt.datetime] = mapped_column(DateTime())
    n_scores: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    buckets_scored: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Alert(Base):
    """A champion-model alert. One per episode: (use_case, animal_id, bucket_start) is unique."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("use_case", "animal_id", "bucket_start", name="uq_alerts_key"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    use_case: Mapped[str] = mapped_column(String(32), index=True)
    animal_id: Mapped[int] = mapped_column(Integer, index=True)
    bucket_start: Mapped[dt.datetime] = mapped_column(DateTime(), index=True)
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(32))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_version: Mapped[str] = mapped_column(String(64))
    partition_key: Mapped[str] = mapped_column(String(32))
    dagster_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    feature_ref: Mapped[str | None] = mapped_column(String(256), nullable=True)
    features: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime())


class Feedback(Base):
    """The farmer's verdict on an alert; often days late."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))  # confirmed | rejected | ignored
    diagnosis: Mapped[str | None] = mapped_column(String(64), nullable=True)
    given_at: Mapped[dt.datetime] = mapped_column(DateTime())
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


# ----------------------------------------------------------------------------- helpers


def to_db_ts(value: Any) -> dt.datetime:
    """Any timestamp-like value to a naive UTC ``datetime`` as the herd DB stores it."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        return ts.to_pydatetime()
    return ts.tz_convert("UTC").tz_localize(None).to_pydatetime()


def from_db_ts(value: Any) -> pd.Timestamp:
    """A herd-DB timestamp to an aware UTC ``pd.Timestamp``."""
    from smx_assets.domain.time_grid import utc

    return utc(value)
