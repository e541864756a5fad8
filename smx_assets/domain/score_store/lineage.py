"""Scoring lineage: what a run scored with, written once per run x shard x use case x model role.

A ten-minute run of 100,000 animals writes six rows here (three use cases, champion and shadow)
instead of 600,000 prediction rows that each repeated the same model, version, run ids and code
version. Every stored score carries the ``id`` of its row (``lineage_id``), so nothing an alert
or ``smx explain`` showed is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import ScoringLineage, to_db_ts

TABLE = ScoringLineage.__table__
COLUMNS = ["id", "dagster_run_id", "partition_key", "window_start", "window_end", "shard", "use_case", "shadow",
           "model_name", "model_version", "model_alias", "mlflow_run_id", "code_version", "feature_ref",
           "scored_at", "n_scores", "buckets_scored"]


@dataclass(frozen=True)
class ScoredModel:
    """One model a run scores with (its role in the run: champion, or shadow challenger)."""

    use_case: str
    shadow: bool
    name: str
    version: str
    alias: str | None
    mlflow_run_id: str | None


@dataclass(frozen=True)
class RunLineage:
    """What every model of one run shares."""

    code_version: str
    partition_key: str
    dagster_run_id: str | None
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    shard: str  # "" for the whole fleet, else the shard's label
    feature_ref: str | None  # location template of the run's feature vectors ({day}, {hhmm})
    scored_at: pd.Timestamp


def record_lineage(engine: Engine, run: RunLineage, models: Sequence[ScoredModel]) -> dict[tuple[str, bool], int]:
    """Insert one row per model; returns ``(use_case, shadow) -> lineage id``."""
    if not models:
        return {}
    rows = [{
        "dagster_run_id": run.dagster_run_id, "partition_key": run.partition_key,
        "window_start": to_db_ts(run.window_start), "window_end": to_db_ts(run.window_end), "shard": run.shard,
        "use_case": m.use_case, "shadow": bool(m.shadow), "model_name": m.name, "model_version": str(m.version),
        "model_alias": m.alias, "mlflow_run_id": m.mlflow_run_id, "code_version": run.code_version,
        "feature_ref": run.feature_ref, "scored_at": to_db_ts(run.scored_at),
    } for m in models]
    out: dict[tuple[str, bool], int] = {}
    with engine.begin() as conn:
        for row in rows:  # a handful per run: one INSERT ... RETURNING each, portable everywhere
            new_id = conn.execute(TABLE.insert().returning(TABLE.c.id), row).scalar_one()
            out[(row["use_case"], row["shadow"])] = int(new_id)
    return out


def finish_lineage(engine: Engine, counts: Mapping[int, int], buckets_scored: int) -> None:
    """Record what each lineage row's run wrote, once its score files are in place."""
    if not counts:
        return
    with engine.begin() as conn:
        for lineage_id, n in counts.items():
            conn.execute(TABLE.update().where(TABLE.c.id == int(lineage_id)).values(
                n_scores=int(n), buckets_scored=int(buckets_scored)))


def lineage_rows(engine: Engine, *, ids: Iterable[int] | None = None, start: pd.Timestamp | None = None,
                 end: pd.Timestamp | None = None, use_case: str | None = None, shadow: bool | None = None,
                 dagster_run_id: str | None = None, columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """Lineage rows by id, or those whose run window overlaps ``[start, end)`` (and of a use
    case, role or run), with aware-UTC timestamps; ``columns`` (``id`` always among them) when a
    reader needs only a few (a cow's score history: three)."""
    columns = ["id", *[c for c in columns if c != "id"]]
    conds = []
    if ids is not None:
        id_list = sorted({int(i) for i in ids})
        if not id_list:
            return _frame([], columns)
        conds.append(TABLE.c.id.in_(id_list))
    if start is not None:
        conds.append(TABLE.c.window_end > to_db_ts(start))
    if end is not None:
        conds.append(TABLE.c.window_start < to_db_ts(end))
    if use_case is not None:
        conds.append(TABLE.c.use_case == use_case)
    if shadow is not None:
        conds.append(TABLE.c.shadow.is_(bool(shadow)))
    if dagster_run_id is not None:
        conds.append(TABLE.c.dagster_run_id == dagster_run_id)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*[TABLE.c[c] for c in columns]).where(*conds).order_by(TABLE.c.id)).all()
    return _frame(rows, columns)


def _frame(rows: list, columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """The rows as a frame, built column-wise: every one-cow score read (``GET /v1/scores``)
    frames its lineage rows, and ``pd.to_datetime`` a column plus a frame of tuples cost 2.5-3 ms
    for 7 rows against 0.25 ms for the query."""
    values_of = list(zip(*rows)) if rows else [() for _ in columns]
    data = {}
    for col, values in zip(columns, values_of):
        if col in ("window_start", "window_end", "scored_at"):
            data[col] = _utc_column(values)
        elif col == "shadow":
            data[col] = np.array([bool(v) for v in values], dtype=bool)
        elif col in ("n_scores", "buckets_scored") and values:  # counts, NULL until the run finished
            data[col] = np.array(values, dtype="float64" if any(v is None for v in values) else "int64")
        else:
            data[col] = np.array(values, dtype=object) if values else np.array([], dtype=object)
    frame = pd.DataFrame(data, columns=list(columns))
    if len(frame):
        frame["id"] = frame["id"].astype("int64")
    return frame


def _utc_column(values: Sequence) -> pd.DatetimeIndex:
    try:  # naive UTC datetimes (the herd DB's DateTime columns) or None
        return pd.DatetimeIndex(np.array(values, dtype="datetime64[ns]")).tz_localize("UTC")
    except (TypeError, ValueError):  # anything else pandas can read
        return pd.DatetimeIndex(pd.to_datetime(list(values), utc=True))


def feature_ref_for(template: str | None, bucket: pd.Timestamp, animal_id: int | None = None) -> str | None:
    """The stored feature vector of ``bucket`` (and animal) from a lineage ``feature_ref``."""
    if not template:
        return None
    b = pd.Timestamp(bucket)
    ref = template.replace("{day}", b.strftime("%Y-%m-%d")).replace("{hhmm}", b.strftime("%H%M"))
    return ref if animal_id is None else f"{ref}#animal_id={int(animal_id)}"


__all__ = ["COLUMNS", "RunLineage", "ScoredModel", "feature_ref_for", "finish_lineage", "lineage_rows",
           "record_lineage"]
