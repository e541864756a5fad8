"""The score store: score files (Parquet) plus the herd DB's scoring lineage, read as one.

Every reader of scores (drift, alert volume, model performance, operations, ``smx explain
--plot``, the API, the alert policy's history) goes through :meth:`ScoreStore.read`, which
returns the rows the old ``predictions`` table had (use case, role, model, version, partition,
run ids, ``scored_at``) joined from the lineage by ``lineage_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy.engine import Engine

from smx_assets.domain.score_store.files import ScoreFiles, days_of
from smx_assets.domain.score_store.lineage import feature_ref_for, lineage_rows

# Lineage columns a read joins by default (what readers of the old predictions table used).
DEFAULT_LINEAGE = ("use_case", "shadow", "model_name", "model_version")
# Everything a row of the old predictions table held (``feature_ref`` is the lineage template).
FULL_LINEAGE = ("use_case", "shadow", "model_name", "model_version", "model_alias", "mlflow_run_id",
                "code_version", "partition_key", "dagster_run_id", "feature_ref", "scored_at", "shard")


@dataclass
class ScoreStore:
    engine: Engine
    files: ScoreFiles

    @classmethod
    def open(cls, engine: Engine, base_path: str) -> ScoreStore:
        return cls(engine, ScoreFiles(base_path))

    def read(self, start: pd.Timestamp, end: pd.Timestamp, *, use_case: str | None = None,
             shadow: bool | None = None, animal_ids: Sequence[int] | None = None,
             lineage: Sequence[str] = DEFAULT_LINEAGE) -> pd.DataFrame:
        """Stored scores with ``start <= bucket_start < end`` (of one use case / role / set of
        animals when given): ``animal_id``, ``bucket_start`` (aware UTC), ``score``,
        ``lineage_id`` and the ``lineage`` columns, sorted by bucket, lineage and animal."""
        start, end = _utc(start), _utc(end)
        # a score of [start, end) comes from a run whose window overlaps it
        rows = lineage_rows(self.engine, start=start, end=end, use_case=use_case, shadow=shadow,
                            columns=lineage) if (use_case is not None or shadow is not None) else None
        ids = None if rows is None else rows["id"].tolist()
        if ids is not None and not ids:
            return self._empty(lineage)
        frame = self.files.read_days(days_of(start, end), lineage_ids=ids, animal_ids=animal_ids, shard=False)
        b = pd.DatetimeIndex(frame["bucket_start"])
        keep = np.asarray((b >= start) & (b < end))
        if ids is not None:
            keep &= np.isin(frame["lineage_id"].to_numpy(), ids)
        if not keep.any():
            return self._empty(lineage)
        scores = frame if keep.all() else frame.loc[keep].reset_index(drop=True)
        return self._join(scores, lineage, rows)  # the lineage's shard is the truth, not the file's

    def count(self, start: pd.Timestamp, end: pd.Timestamp) -> int:
        """Stored scores with ``start <= bucket_start < end``: a whole compacted day without loose
        files is counted from its Parquet footer, anything else is read (two columns)."""
        start, end = _utc(start), _utc(end)
        total = 0
        for day in days_of(start, end):
            whole = day >= start and day + pd.Timedelta(days=1) <= end
            path = self.files.day_path(day)
            if whole and not self.files.loose_files(day):
                if self.files.fs.exists(path):
                    with self.files.fs.open(path, "rb") as fh:
                        total += pq.ParquetFile(fh).metadata.num_rows
                continue
            frame = self.files.read_day(day)
            b = frame["bucket_start"]
            total += int(((b >= start) & (b < end)).sum())
        return total

    def read_everything(self) -> pd.DataFrame:
        """Every stored score with its full lineage and per-score ``feature_ref`` (tests, exports)."""
        days = self.files.days()
        if not days:
            return self._empty(FULL_LINEAGE)
        frame = self.read(days[0], days[-1] + pd.Timedelta(days=1), lineage=FULL_LINEAGE)
        frame["feature_ref"] = [feature_ref_for(t, b, a) for t, b, a in
                                zip(frame["feature_ref"], frame["bucket_start"], frame["animal_id"])]
        return frame

    def _join(self, scores: pd.DataFrame, lineage: Sequence[str], rows: pd.DataFrame | None) -> pd.DataFrame:
        if not lineage:
            return scores
        wanted = np.unique(scores["lineage_id"].to_numpy())
        if rows is None or not np.isin(wanted, rows["id"].to_numpy()).all():
            rows = lineage_rows(self.engine, ids=wanted.tolist(), columns=lineage)
        table = rows.set_index("id")[list(lineage)]
        missing = ~np.isin(wanted, table.index.to_numpy())
        if missing.any():  # a score whose lineage row is gone: kept, its lineage unknown
            table = pd.concat([table, pd.DataFrame(index=pd.Index(wanted[missing], name="id"), columns=table.columns)])
        joined = table.reindex(scores["lineage_id"].to_numpy())
        for col in lineage:
            scores[col] = joined[col].to_numpy()
        if "shadow" in lineage:
            scores["shadow"] = scores["shadow"].astype(bool)
        return scores

    @staticmethod
    def _empty(lineage: Sequence[str]) -> pd.DataFrame:
        frame = pd.DataFrame({"lineage_id": pd.Series(dtype="int64"), "animal_id": pd.Series(dtype="int64"),
                              "bucket_start": pd.Series(dtype="datetime64[us, UTC]"),
                              "score": pd.Series(dtype="float64")})
        for col in lineage:
            frame[col] = pd.Series(dtype=bool if col == "shadow" else object)
        return frame


def _utc(value: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


__all__ = ["DEFAULT_LINEAGE", "FULL_LINEAGE", "ScoreStore"]
