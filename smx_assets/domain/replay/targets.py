"""What is replayed: an alert or a stored score, with the run that produced it.

An alert row copies its model, version, code version, partition and Dagster run from the run's
scoring lineage but not the lineage's id, so the run is found again by those (and by its window
holding the bucket). The run's ``scored_at`` is the known-at time of the replay and its window
the block the vectors are recomputed over. When retention removed the lineage row (with the
day's scores, the alert policy's history) the alert cannot be replayed, and the replay says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.replay.known import ReplayError
from smx_assets.domain.score_store.lineage import feature_ref_for, lineage_rows
from smx_assets.domain.score_store.store import ScoreStore
from smx_assets.domain.time_grid import BUCKET, utc


@dataclass
class Target:
    """One score to recompute, with everything recorded about how it was made."""

    kind: str  # "alert" | "score"
    use_case: str
    animal_id: int
    bucket: pd.Timestamp
    shadow: bool
    model_name: str
    model_version: str
    stored_score: float
    code_version: str
    known_at: pd.Timestamp
    known_at_source: str
    window_start: pd.Timestamp | None = None  # the scoring run's window (vectors are computed over it)
    window_end: pd.Timestamp | None = None
    lineage_id: int | None = None
    feature_ref: str | None = None
    vector_is_the_runs: bool = True  # the Parquet vector behind feature_ref was written by this run
    alert_id: int | None = None
    alert_features: dict[str, Any] | None = None  # the model's features as the alert row holds them
    threshold: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.alert_id is not None:
            return f"alert {self.alert_id}"
        role = " (shadow)" if self.shadow else ""
        return f"{self.use_case}{role} score of animal {self.animal_id} at {self.bucket:%Y-%m-%d %H:%M}"


def alert_target(engine: Engine, scores: ScoreStore, alert_id: int) -> Target:
    """The alert ``alert_id`` and its scoring run; :class:`ReplayError` when there is none."""
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM alerts WHERE id = :id"), {"id": int(alert_id)}).mappings().first()
    except sa.exc.SQLAlchemyError as exc:
        raise ReplayError(f"herd DB unreachable: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if row is None:
        raise ReplayError(f"no alert with id {alert_id} in {engine.url.render_as_string(hide_password=True)}")
    a = dict(row)
    features = a.get("features")
    if isinstance(features, str):  # a raw SQL read returns the JSON column as text
        features = json.loads(features)
    bucket = utc(a["bucket_start"])
    created = utc(a["created_at"])
    t = Target(kind="alert", use_case=a["use_case"], animal_id=int(a["animal_id"]), bucket=bucket, shadow=False,
               model_name=a["model_name"], model_version=str(a["model_version"]), stored_score=float(a["score"]),
               code_version=a["code_version"], known_at=created, known_at_source="", alert_id=int(a["id"]),
               alert_features=features, feature_ref=a.get("feature_ref"), threshold=float(a["threshold"]))
    rows = lineage_rows(engine, start=bucket, end=bucket + BUCKET, use_case=t.use_case, shadow=False,
                        dagster_run_id=a.get("dagster_run_id"))
    if len(rows):
        same = ((rows["model_name"] == t.model_name) & (rows["model_version"].astype(str) == t.model_version)
                & (rows["code_version"] == t.code_version) & (rows["partition_key"] == a["partition_key"])
                & (rows["scored_at"] <= created))
        if a.get("dagster_run_id") is None:
            same &= rows["dagster_run_id"].isna()
        rows = rows[same]
    if len(rows):
        run = rows.sort_values("scored_at").iloc[-1]
        t.lineage_id = int(run["id"])
        t.known_at = utc(run["scored_at"])
        t.known_at_source = f"scoring_lineage {t.lineage_id} scored_at"
        t.window_start, t.window_end = utc(run["window_start"]), utc(run["window_end"])
        stored = scores.read(bucket, bucket + BUCKET, use_case=t.use_case, shadow=False,
                             animal_ids=[t.animal_id], lineage=())
        mine = stored[stored["animal_id"] == t.animal_id]
        t.vector_is_the_runs = bool(len(mine)) and int(mine["lineage_id"].iloc[-1]) == t.lineage_id
        if not t.vector_is_the_runs:
            t.notes.append("the bucket was scored again after the alert (or its scores are no longer kept): "
                           "features compared with the alert's own copy of the model's columns only")
    else:
        raise ReplayError(
            f"alert {t.alert_id}'s scoring run is no longer kept (scoring_lineage and scores are kept "
            f"SMX_RETENTION_PREDICTIONS_DAYS days): when it read its readings and over which window is unknown")
    return t


def score_targets(engine: Engine, frame: pd.DataFrame) -> list[Target]:
    """Targets of stored scores read with ``FULL_LINEAGE`` (``ScoreStore.read``), with their
    runs' windows from the scoring lineage."""
    runs = lineage_rows(engine, ids=frame["lineage_id"].astype("int64").tolist()).set_index("id") if len(frame) \
        else pd.DataFrame()
    out = []
    for r in frame.itertuples(index=False):
        bucket = utc(r.bucket_start)
        lid = int(r.lineage_id)
        ws, we = ((utc(runs.at[lid, "window_start"]), utc(runs.at[lid, "window_end"])) if lid in runs.index
                  else (bucket, bucket + BUCKET))
        out.append(Target(
            kind="score", use_case=str(r.use_case), animal_id=int(r.animal_id), bucket=bucket, shadow=bool(r.shadow),
            model_name=str(r.model_name), model_version=str(r.model_version), stored_score=float(r.score),
            code_version=str(r.code_version), known_at=utc(r.scored_at),
            known_at_source=f"scoring_lineage {lid} scored_at", window_start=ws, window_end=we, lineage_id=lid,
            feature_ref=feature_ref_for(r.feature_ref, bucket, int(r.animal_id))))
    return out


def stored_vector(files: FeatureFiles, feature_ref: str | None, bucket: pd.Timestamp) -> dict[str, Any] | None:
    """The full stored feature vector behind ``<parquet url>#animal_id=<id>`` (None when gone)."""
    if not feature_ref or "#" not in feature_ref:
        return None
    url, _, frag = feature_ref.rpartition("#")
    key, _, value = frag.partition("=")
    fs, path = fsspec.core.url_to_fs(files.resolve(url))
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        frame = pd.read_parquet(fh)
    rows = frame[frame[key].astype(str) == value]
    if "bucket_start" in rows:
        rows = rows[pd.to_datetime(rows["bucket_start"], utc=True) == bucket]
    return None if rows.empty else rows.iloc[0].to_dict()


__all__ = ["Target", "alert_target", "score_targets", "stored_vector"]
