"""Writing alerts so reruns never duplicate them, and the animal filters of a chunk or shard.

Alerts are insert-or-ignore on (use_case, animal_id, bucket_start): an alert once raised is
never raised twice and never silently withdrawn by a rerun. (Scores are not written here: they
are a time series in the score store, ``domain/score_store``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import Alert, Animal, to_db_ts
from smx_assets.domain.json_values import json_safe

ALERT_COLUMNS = [
    "use_case", "animal_id", "bucket_start", "score", "threshold", "model_name", "model_version",
    "mlflow_run_id", "code_version", "partition_key", "dagster_run_id", "feature_ref", "features",
    "created_at",
]
CHUNK = 5_000


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    out = frame[columns].copy()
    for col in ("bucket_start", "scored_at", "created_at"):
        if col in out:  # naive UTC python datetimes, as to_db_ts gives, in one vectorised pass
            naive = pd.to_datetime(out[col], utc=True).dt.tz_localize(None)
            out[col] = pd.Series(naive.to_numpy().astype("datetime64[us]").astype(object), index=out.index, dtype=object)
    out = out.astype(object).where(pd.notna(out), None)
    return out.to_dict("records")


AnimalRange = tuple[int | None, int | None]  # [lo, hi) of animal ids; None: unbounded
ALL_ANIMALS: AnimalRange = (None, None)


def _animal_filter(column: sa.ColumnElement, animals: AnimalRange,
                   farms: Sequence[int] | None = None) -> list[sa.ColumnElement]:
    """Conditions on an ``animal_id`` column: the id range ``[lo, hi)`` and, for a shard, the
    animals of ``farms`` (``None``: any farm). The farm condition is a sub-query on ``animals``,
    so its size is the shard's farm count, not its animal count, and it covers every animal of
    those farms (also ones no longer active, whose old rows a replace must still remove)."""
    lo, hi = animals
    out = []
    if lo is not None:
        out.append(column >= int(lo))
    if hi is not None:
        out.append(column < int(hi))
    if farms is not None:
        animal = Animal.__table__
        out.append(column.in_(sa.select(animal.c.id).where(animal.c.farm_id.in_([int(f) for f in farms]))))
    return out


def _insert_ignore(engine: Engine, table: sa.Table, index_elements: list[str]) -> Any:
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=index_elements)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=index_elements)
    raise NotImplementedError(f"insert-or-ignore not implemented for {engine.dialect.name}")


def insert_alerts(engine: Engine, alerts: pd.DataFrame) -> int:
    """Insert alerts, ignoring ones already raised for the same use case, animal and bucket.

    Returns the number of alerts that are new.
    """
    if alerts.empty:
        return 0
    rows = _records(alerts, ALERT_COLUMNS)
    for row in rows:
        feats = row.get("features")
        if isinstance(feats, Mapping):
            row["features"] = {k: json_safe(v) for k, v in feats.items()}
    table = Alert.__table__
    # RETURNING the ids of the rows really inserted (a conflict returns nothing): counting the
    # table before and after read every alert ever kept, at fleet scale a scan per run
    stmt = _insert_ignore(engine, table, ["use_case", "animal_id", "bucket_start"]).returning(table.c.id)
    new = 0
    with engine.begin() as conn:
        for i in range(0, len(rows), CHUNK):
            new += len(conn.execute(stmt, rows[i : i + CHUNK]).all())
    return new


def alerts_near(
    engine: Engine, use_case: str, start: pd.Timestamp, end: pd.Timestamp, animal_ids: Iterable[int] | None = None,
    animals: AnimalRange = ALL_ANIMALS, farms: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Existing alerts of a use case with ``start <= bucket_start < end`` (refractory look-up),
    of the animals in ``animals`` (``[lo, hi)``, a scoring chunk's range), of ``farms`` (a
    shard's) and ``animal_ids``."""
    table = Alert.__table__
    query = sa.select(table.c.animal_id, table.c.bucket_start).where(
        table.c.use_case == use_case,
        table.c.bucket_start >= to_db_ts(start),
        table.c.bucket_start < to_db_ts(end),
        *_animal_filter(table.c.animal_id, animals, farms),
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=["animal_id", "bucket_start"])
    if animal_ids is not None and not frame.empty:
        frame = frame[frame["animal_id"].isin(set(animal_ids))]
    frame["bucket_start"] = pd.to_datetime(frame["bucket_start"]).dt.tz_localize("UTC")
    return frame
