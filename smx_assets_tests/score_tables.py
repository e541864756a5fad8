"""The score store read back as the old ``predictions`` table looked, for tests' assertions."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.score_store import ScoreFiles, ScoreStore


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
