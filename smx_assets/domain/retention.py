"""How long each kind of data is kept, and the daily job that enforces it.

At 100,000 animals a bucket writes ~600,000 scores (about 85 million a day) and 100,000
stored feature vectors, and the sensor store receives ~14 million readings a day: without
retention every store grows without bound. What is kept (defaults in ``settings.TABLE``):

=====================  =======================================  ==================================
data                   kept                                     how it is removed
=====================  =======================================  ==================================
raw readings (and the  ``SMX_RETENTION_READINGS_DAYS`` (60)     InfluxDB: the database's default
stored rejections of                                            retention policy (DURATION, 1-day
ingest validation)                                              shards; InfluxDB drops whole
                                                                shards); SQL store and
                                                                ``rejected_readings``: ``DELETE``
scored feature vectors ``SMX_RETENTION_FEATURES_DAYS`` (30)     the day's folder is deleted; the
(``scored_features``)                                           vectors of alerts are kept first
scores (score store)   ``SMX_RETENTION_PREDICTIONS_DAYS`` (30)  the day's file and bucket folder
and scoring lineage                                             are deleted (days before today
                                                                are compacted first); lineage
                                                                rows of those days: ``DELETE``
alerts, feedback       forever                                  never
=====================  =======================================  ==================================

Alerts keep their lineage: an alert row copies what it needs from its run's lineage (model name,
version, MLflow run id, code version, partition key, Dagster run id, the model's feature values),
so there is no foreign key from alerts to scores or lineage for a dropped day to break. Its
``feature_ref`` pointed into ``scored_features``; before a day's vectors go, the rows of that
day's alerts are copied into ``alert_features/<day>/<HHMM>.parquet`` (same layout, a few rows)
and the alerts' ``feature_ref`` is pointed there, so ``smx explain`` still shows the full vector.

Only whole UTC days older than the period are removed, counted from the start of today: a run
on any hour of a day removes the same data, and nothing newer is ever touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.features.storage import SCORED, FeatureFiles
from smx_assets.domain.herd_db import Alert, RejectedReading, ScoringLineage, to_db_ts
from smx_assets.domain.score_store.files import ScoreFiles

log = logging.getLogger(__name__)
ALERT_FEATURES = "alert_features"
MIN_READINGS_DAYS = 12  # 10-day baselines + the 26 h trailing window + a margin


@dataclass(frozen=True)
class RetentionPolicy:
    readings_days: int = 60
    features_days: int = 30
    predictions_days: int = 30


@dataclass
class RetentionReport:
    """What one enforcement removed and kept (the asset's metadata)."""

    cutoffs: dict[str, str] = field(default_factory=dict)  # kind -> first day kept
    score_days_removed: list[str] = field(default_factory=list)
    score_days_compacted: list[str] = field(default_factory=list)
    lineage_rows_removed: int = 0
    score_bytes_at_rest: int = 0
    feature_days_removed: list[str] = field(default_factory=list)
    feature_files_removed: int = 0
    alert_vectors_kept: int = 0
    rejected_readings_removed: int = 0
    readings: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "cutoffs": self.cutoffs,
            "score_days_removed": len(self.score_days_removed),
            "score_days_compacted": len(self.score_days_compacted),
            "lineage_rows_removed": self.lineage_rows_removed,
            "score_bytes_at_rest": self.score_bytes_at_rest,
            "feature_days_removed": len(self.feature_days_removed),
            "feature_files_removed": self.feature_files_removed,
            "alert_vectors_kept": self.alert_vectors_kept,
            "rejected_readings_removed": self.rejected_readings_removed,
            "readings": self.readings,
        }


def cutoff_day(now: pd.Timestamp, days: int) -> dt.date:
    """The first UTC day kept when ``days`` days are kept (today counts as one)."""
    return (pd.Timestamp(now).tz_convert("UTC").floor("D") - pd.Timedelta(days=days - 1)).date()


def enforce_retention(*, engine: Engine, store: Any, files: FeatureFiles, policy: RetentionPolicy,
                      now: pd.Timestamp | None = None) -> RetentionReport:
    """Remove what is older than ``policy`` from the herd DB, the feature files and the sensor store."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    report = RetentionReport()
    pred_cut, feat_cut = cutoff_day(now, policy.predictions_days), cutoff_day(now, policy.features_days)
    read_cut = cutoff_day(now, policy.readings_days)
    report.cutoffs = {"scores": pred_cut.isoformat(), "scored_features": feat_cut.isoformat(),
                      "readings": read_cut.isoformat()}
    _scores(engine, ScoreFiles(files.base_path), pred_cut, now, report)
    _scored_features(engine, files, feat_cut, report)
    rejected = RejectedReading.__table__
    with engine.begin() as conn:  # the stored rejections go with the raw readings they stood for
        report.rejected_readings_removed = int(conn.execute(rejected.delete().where(
            rejected.c.rejected_at < to_db_ts(pd.Timestamp(read_cut)))).rowcount or 0)
    enforce = getattr(store, "enforce_retention", None)
    if enforce is not None:
        report.readings = enforce(policy.readings_days, pd.Timestamp(read_cut, tz="UTC"))
    else:  # a store without retention support: say so instead of pretending
        report.readings = {"kind": type(store).__name__, "removed": "not supported"}
    log.info("retention: %s", report.metadata())
    return report


def _scores(engine: Engine, files: ScoreFiles, cutoff: dt.date, now: pd.Timestamp, report: RetentionReport) -> None:
    """Days of scores before ``cutoff`` go (files and lineage); the other days before today are
    compacted into one sorted file each (what the score store holds at rest)."""
    report.score_days_removed = files.drop_days_before(pd.Timestamp(cutoff, tz="UTC"))
    t = ScoringLineage.__table__
    with engine.begin() as conn:
        report.lineage_rows_removed = int(conn.execute(t.delete().where(
            t.c.window_end <= to_db_ts(pd.Timestamp(cutoff)))).rowcount or 0)
    today = now.floor("D")
    for day in files.days():
        if day < today and files.loose_files(day):
            done = files.compact_day(day)
            report.score_days_compacted.append(done.day)
    report.score_bytes_at_rest = files.bytes_at_rest()


def _scored_days(files: FeatureFiles) -> list[dt.date]:
    folder = posixpath.join(files.root, SCORED)
    if not files.fs.exists(folder):
        return []
    days = []
    for entry in files.fs.ls(folder, detail=False):
        name = posixpath.basename(str(entry).rstrip("/"))
        try:
            days.append(dt.date.fromisoformat(name))
        except ValueError:
            continue  # not a day folder: not ours to delete
    return sorted(days)


def _scored_features(engine: Engine, files: FeatureFiles, cutoff: dt.date, report: RetentionReport) -> None:
    for day in _scored_days(files):
        if day >= cutoff:
            continue
        report.alert_vectors_kept += keep_alert_vectors(engine, files, day)
        folder = posixpath.join(files.root, SCORED, day.isoformat())
        report.feature_files_removed += len(files.fs.glob(f"{folder}/*.parquet"))
        files.fs.rm(folder, recursive=True)
        report.feature_days_removed.append(day.isoformat())


def keep_alert_vectors(engine: Engine, files: FeatureFiles, day: dt.date) -> int:
    """Copy the stored vectors of ``day``'s alerts out of ``scored_features`` and repoint the
    alerts' ``feature_ref`` at the copies; returns the number of alerts repointed."""
    t = Alert.__table__
    lo = to_db_ts(pd.Timestamp(day))
    hi = to_db_ts(pd.Timestamp(day) + pd.Timedelta(days=1))
    scored_prefix = f"{files.display_base}/{SCORED}/"
    with engine.connect() as conn:
        alerts = pd.DataFrame(conn.execute(sa.select(t.c.id, t.c.animal_id, t.c.bucket_start, t.c.feature_ref).where(
            t.c.bucket_start >= lo, t.c.bucket_start < hi, t.c.feature_ref.like(f"{scored_prefix}%"))).all(),
            columns=["id", "animal_id", "bucket_start", "feature_ref"])
    if alerts.empty:
        return 0
    alerts["url"] = alerts["feature_ref"].str.rpartition("#")[0]
    updates = []
    for url, group in alerts.groupby("url"):
        rel = url[len(scored_prefix):]  # <day>/<HHMM>.parquet
        if not files.fs.exists(files.resolve(url)):
            continue  # nothing stored to keep (the alert keeps its own copy of the model's features)
        with files.fs.open(files.resolve(url), "rb") as fh:
            frame = pd.read_parquet(fh)
        rows = frame[frame["animal_id"].isin(group["animal_id"].astype("int64"))]
        kind_day, _, table = rel.partition("/")
        new_url = files.write(rows.reset_index(drop=True), ALERT_FEATURES, kind_day, table=table.removesuffix(".parquet"))
        for r in group.itertuples(index=False):
            updates.append({"alert_id": int(r.id), "ref": f"{new_url}#animal_id={int(r.animal_id)}"})
    if not updates:
        return 0
    with engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == sa.bindparam("alert_id")).values(feature_ref=sa.bindparam("ref")),
                     updates)
    return len(updates)
