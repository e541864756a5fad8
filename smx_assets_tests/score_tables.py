"""The score store read back as the old ``predictions`` table looked, for tests' assertions."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.score_store import ScoreFiles, ScoreStore
from smx_assets.domain.score_store.files import bucket_table
from smx_assets.domain.score_store.lineage import RunLineage, ScoredModel, finish_lineage, record_lineage
from smx_assets.domain.time_grid import BUCKET


def stored_scores(engine: sa.Engine, features_base: str) -> pd.DataFrame:
    """Every stored score with its lineage (one row per use case, role, animal and bucket), its
    timestamps naive UTC as the herd DB's ``predictions`` table gave them."""
    frame = ScoreStore(engine, ScoreFiles(features_base)).read_everything()
    for col in ("bucket_start", "scored_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.tz_localize(None).astype("datetime64[us]")
    return frame


def clear_scores(engine: sa.Engine, features_base: str) -> None:
    """Remove every stored score and the scoring lineage (a test starting from nothing)."""
    files = ScoreFiles(features_base)
    if files.fs.exists(files.folder):
        files.fs.rm(files.folder, recursive=True)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM scoring_lineage"))


def write_scores(engine: sa.Engine, features_base: str, rows: pd.DataFrame) -> int:
    """Store ``rows`` shaped like the old ``predictions`` table (lineage columns repeated per
    row) as a scoring run would: one lineage row per distinct model and run, one bucket file per
    bucket (replacing what the bucket held). Returns the scores written."""
    files = ScoreFiles(features_base)
    rows = rows.copy()
    rows["bucket_start"] = pd.to_datetime(rows["bucket_start"], utc=True)
    key = ["use_case", "shadow", "model_name", "model_version", "model_alias", "mlflow_run_id", "code_version",
           "partition_key", "dagster_run_id"]
    rows["lineage_id"] = 0
    for values, part in rows.groupby(key, dropna=False, sort=False):
        g = dict(zip(key, values))
        run = RunLineage(code_version=g["code_version"], partition_key=g["partition_key"] or "",
                         dagster_run_id=None if pd.isna(g["dagster_run_id"]) else g["dagster_run_id"],
                         window_start=part["bucket_start"].min(), window_end=part["bucket_start"].max() + BUCKET,
                         shard="", feature_ref=None, scored_at=pd.Timestamp(part["scored_at"].iloc[0]))
        model = ScoredModel(g["use_case"], bool(g["shadow"]), g["model_name"], str(g["model_version"]),
                            None if pd.isna(g["model_alias"]) else g["model_alias"],
                            None if pd.isna(g["mlflow_run_id"]) else g["mlflow_run_id"])
        ids = record_lineage(engine, run, [model])
        rows.loc[part.index, "lineage_id"] = ids[(model.use_case, model.shadow)]
    total = 0
    for bucket, part in rows.groupby("bucket_start", sort=True):
        files.write_bucket(pd.Timestamp(bucket), bucket_table(part["lineage_id"].to_numpy(), part["animal_id"].to_numpy(),
                                                              part["score"].to_numpy()))
        total += len(part)
    counts = rows.groupby("lineage_id").size()
    finish_lineage(engine, {int(k): int(v) for k, v in counts.items()}, rows["bucket_start"].nunique())
    return total
