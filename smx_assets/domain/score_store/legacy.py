"""Moving an earlier deployment's ``predictions`` table into the score store, without loss.

Run by migration 0004 (``smx migrate``) inside its transaction: each distinct (run, partition,
use case, role, model, version, alias, MLflow run, code version) of the old rows becomes one
``scoring_lineage`` row; the scores are written day by day as bucket files and compacted; then
the scores in the store are counted per use case and model and compared with the rows read. Only
when every count matches is the old table dropped; otherwise the migration fails and its
transaction leaves the table (and the schema revision) as they were.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.herd_db import to_db_ts
from smx_assets.domain.score_store.files import WHOLE, ScoreFiles, bucket_table
from smx_assets.domain.score_store.lineage import TABLE as LINEAGE
from smx_assets.domain.time_grid import day_key

log = logging.getLogger(__name__)

OLD = "predictions"
KEY = ["dagster_run_id", "partition_key", "use_case", "shadow", "model_name", "model_version", "model_alias",
       "mlflow_run_id", "code_version"]
_REF = re.compile(r"/(\d{4}-\d{2}-\d{2})/(\d{4})((?:\.(shard-\d+-of-\d+))?)\.parquet(?:#.*)?$")


@dataclass
class MoveReport:
    rows_before: dict[str, int] = field(default_factory=dict)  # "heat smx-heat v3" -> rows
    scores_after: dict[str, int] = field(default_factory=dict)
    lineage_rows: int = 0
    days: int = 0

    @property
    def total_before(self) -> int:
        return sum(self.rows_before.values())

    @property
    def total_after(self) -> int:
        return sum(self.scores_after.values())

    def lines(self) -> list[str]:
        out = [f"predictions moved into the score store: {self.total_before:,} rows -> {self.total_after:,} scores, "
               f"{self.lineage_rows} lineage rows, {self.days} days"]
        out += [f"  {k}: {self.rows_before[k]:,} -> {self.scores_after.get(k, 0):,}" for k in sorted(self.rows_before)]
        return out


def _template(ref: str | None) -> tuple[str | None, str]:
    """A stored ``feature_ref`` as a lineage template (``{day}``, ``{hhmm}``) and its shard label."""
    if not ref:
        return None, WHOLE
    m = _REF.search(ref)
    if not m:
        return ref.split("#", 1)[0], WHOLE
    return ref[:m.start()] + "/{day}/{hhmm}" + m.group(3) + ".parquet", m.group(4) or WHOLE


def _label(row: pd.Series) -> str:
    return f"{row['use_case']}{' (shadow)' if row['shadow'] else ''} {row['model_name']} v{row['model_version']}"


def move_predictions(conn: sa.Connection, files: ScoreFiles) -> MoveReport:
    """Move every row of ``predictions`` into ``files`` + ``scoring_lineage`` and drop the table.

    If anything fails, the score files this move wrote are removed again (days the store did not
    hold before), so the rolled-back lineage ids never meet orphaned scores."""
    if not sa.inspect(conn).has_table(OLD):
        return MoveReport()
    had = {day_key(d) for d in files.days()}
    try:
        return _move(conn, files)
    except BaseException:
        for day in files.days():
            if day_key(day) not in had:
                files.drop_day(day)
        raise


def _move(conn: sa.Connection, files: ScoreFiles) -> MoveReport:
    report = MoveReport()
    old = sa.Table(OLD, sa.MetaData(), autoload_with=conn)
    c = old.c
    groups = conn.execute(sa.select(
        *[c[k] for k in KEY], sa.func.min(c.feature_ref), sa.func.min(c.bucket_start), sa.func.max(c.bucket_start),
        sa.func.min(c.scored_at), sa.func.count()).group_by(*[c[k] for k in KEY])).all()
    ids: dict[tuple, int] = {}
    shard_of: dict[int, str] = {}
    for g in groups:
        key = tuple(g[:len(KEY)])
        ref, lo, hi, scored_at, n = g[len(KEY):]
        template, shard = _template(ref)
        row = dict(zip(KEY, key))
        new_id = conn.execute(LINEAGE.insert().returning(LINEAGE.c.id), {
            **row, "shadow": bool(row["shadow"]), "model_version": str(row["model_version"]),
            "partition_key": row["partition_key"] or "", "window_start": to_db_ts(lo),
            "window_end": to_db_ts(pd.Timestamp(hi) + pd.Timedelta(minutes=10)), "shard": shard,
            "feature_ref": template, "scored_at": to_db_ts(scored_at), "n_scores": int(n)}).scalar_one()
        ids[key] = int(new_id)
        shard_of[int(new_id)] = shard
        label = _label(pd.Series(row))
        report.rows_before[label] = report.rows_before.get(label, 0) + int(n)
    report.lineage_rows = len(ids)
    bounds = conn.execute(sa.select(sa.func.min(c.bucket_start), sa.func.max(c.bucket_start))).one()
    if bounds[0] is not None:
        lineage_label = {lid: None for lid in ids.values()}
        for key, lid in ids.items():
            lineage_label[lid] = _label(pd.Series(dict(zip(KEY, key))))
        for day in pd.date_range(pd.Timestamp(bounds[0]).normalize(), pd.Timestamp(bounds[1]).normalize(), freq="D"):
            rows = conn.execute(sa.select(*[c[k] for k in KEY], c.animal_id, c.bucket_start, c.score).where(
                c.bucket_start >= day.to_pydatetime(), c.bucket_start < (day + pd.Timedelta(days=1)).to_pydatetime())
            ).all()
            if not rows:
                continue
            frame = pd.DataFrame(rows, columns=[*KEY, "animal_id", "bucket_start", "score"])
            frame["lineage_id"] = [ids[tuple(r)] for r in frame[KEY].itertuples(index=False, name=None)]
            frame["shard"] = frame["lineage_id"].map(shard_of)
            frame["bucket_start"] = pd.to_datetime(frame["bucket_start"]).dt.tz_localize("UTC")
            for (bucket, shard), part in frame.groupby(["bucket_start", "shard"], sort=True):
                files.write_bucket(pd.Timestamp(bucket), bucket_table(
                    part["lineage_id"].to_numpy(), part["animal_id"].to_numpy(), part["score"].to_numpy()), shard)
            files.compact_day(day.tz_localize("UTC"))
            stored = files.read_day(day.tz_localize("UTC"))
            for lid, n in zip(*np.unique(stored["lineage_id"].to_numpy(), return_counts=True)):
                label = lineage_label.get(int(lid))
                if label is not None:
                    report.scores_after[label] = report.scores_after.get(label, 0) + int(n)
            report.days += 1
    if report.scores_after != report.rows_before:
        raise RuntimeError("predictions were NOT moved: counts differ per use case and model "
                           + "; ".join(report.lines()[1:]) + " (the old table is kept)")
    conn.execute(sa.text(f"DROP TABLE {OLD}" + (" CASCADE" if conn.dialect.name == "postgresql" else "")))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP SEQUENCE IF EXISTS predictions_id_seq"))
    for line in report.lines():
        log.info("%s", line)
    return report


__all__ = ["MoveReport", "move_predictions"]
