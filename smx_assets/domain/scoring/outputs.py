"""Writing predictions and alerts so reruns replace, never duplicate.

Predictions of a bucket are replaced as a whole inside one transaction (delete the window,
insert the new rows), so a rerun or a late-data re-score leaves exactly one row per model,
animal and bucket. Alerts are insert-or-ignore on (use_case, animal_id, bucket_start): an alert
once raised is never raised twice and never silently withdrawn by a rerun.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import Alert, Prediction, to_db_ts

PREDICTION_COLUMNS = [
    "use_case", "animal_id", "bucket_start", "score", "shadow", "model_name", "model_version",
    "model_alias", "mlflow_run_id", "code_version", "partition_key", "dagster_run_id",
    "feature_ref", "scored_at",
]
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


def replace_predictions(
    engine: Engine, predictions: pd.DataFrame, window_start: pd.Timestamp, window_end: pd.Timestamp
) -> int:
    """Replace every prediction with ``window_start <= bucket_start < window_end``."""
    rows = _records(predictions, PREDICTION_COLUMNS)
    table = Prediction.__table__
    with engine.begin() as conn:
        _lock_window(conn, window_start, window_end)
        conn.execute(
            table.delete().where(
                table.c.bucket_start >= to_db_ts(window_start), table.c.bucket_start < to_db_ts(window_end)
            )
        )
        for i in range(0, len(rows), CHUNK):
            conn.execute(table.insert(), rows[i : i + CHUNK])
    return len(rows)


_LOCK_NAMESPACE = 0x534D5850  # "SMXP": keeps these advisory locks apart from anyone else's


def _lock_window(conn: sa.Connection, window_start: pd.Timestamp, window_end: pd.Timestamp) -> None:
    """Serialise prediction writers whose windows share a UTC day (PostgreSQL only).

    Two runs of the same partition at once (a double launch, a retry racing a stuck run) would
    otherwise both delete under READ COMMITTED before either inserts, and the second insert
    fails on the unique key (or, for disjoint model versions, duplicates the bucket). A
    transaction-level advisory lock per UTC day touched (taken in order, so no deadlock;
    released at commit) makes the second writer wait and then replace the first one's rows.
    SQLite needs nothing: its write lock already serialises the transactions.
    """
    if conn.dialect.name != "postgresql":
        return
    first = pd.Timestamp(to_db_ts(window_start)).floor("D")
    last = (pd.Timestamp(to_db_ts(window_end)) - pd.Timedelta(microseconds=1)).floor("D")
    for day in pd.date_range(first, max(first, last), freq="D"):
        key = int(day.value // 86_400_000_000_000)  # days since the epoch
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _LOCK_NAMESPACE, "key": key})


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
            row["features"] = {k: _json_safe(v) for k, v in feats.items()}
    table = Alert.__table__
    stmt = _insert_ignore(engine, table, ["use_case", "animal_id", "bucket_start"])
    with engine.begin() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        for i in range(0, len(rows), CHUNK):
            conn.execute(stmt, rows[i : i + CHUNK])
        after = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    return int(after - before)


def _json_safe(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return pd.Timestamp(value).isoformat()
    return value


def alerts_near(
    engine: Engine, use_case: str, start: pd.Timestamp, end: pd.Timestamp, animal_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """Existing alerts of a use case with ``start <= bucket_start < end`` (refractory look-up)."""
    table = Alert.__table__
    query = sa.select(table.c.animal_id, table.c.bucket_start).where(
        table.c.use_case == use_case,
        table.c.bucket_start >= to_db_ts(start),
        table.c.bucket_start < to_db_ts(end),
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=["animal_id", "bucket_start"])
    if animal_ids is not None and not frame.empty:
        frame = frame[frame["animal_id"].isin(set(animal_ids))]
    frame["bucket_start"] = pd.to_datetime(frame["bucket_start"]).dt.tz_localize("UTC")
    return frame
