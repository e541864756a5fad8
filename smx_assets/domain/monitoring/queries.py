"""Herd-DB reads monitoring needs (SQLAlchemy Core, SQLite and PostgreSQL alike).

Aggregations that would move millions of prediction rows into pandas (alerts and animals per
day, champion coverage per version) are done in SQL, one small query per day, so a daily
monitoring run reads kilobytes, not the predictions table.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import Alert, Feedback, Prediction, to_db_ts

DAY = pd.Timedelta(days=1)


def _utc(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for c in cols:
        if c in frame:
            frame[c] = pd.to_datetime(frame[c]).dt.tz_localize("UTC") if len(frame) else pd.Series(
                dtype="datetime64[ns, UTC]")
    return frame


def champion_predictions(engine: Engine, start: pd.Timestamp, end: pd.Timestamp,
                         columns: tuple[str, ...] = ("use_case", "animal_id", "bucket_start", "score")) -> pd.DataFrame:
    """Non-shadow predictions with ``start <= bucket_start < end``."""
    t = Prediction.__table__
    q = sa.select(*[t.c[c] for c in columns]).where(
        t.c.shadow.is_(False), t.c.bucket_start >= to_db_ts(start), t.c.bucket_start < to_db_ts(end))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=list(columns))
    return _utc(frame, "bucket_start", "scored_at")


def alerts_between(engine: Engine, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    t = Alert.__table__
    cols = ["id", "use_case", "animal_id", "bucket_start", "model_name", "model_version", "mlflow_run_id",
            "partition_key", "created_at"]
    q = sa.select(*[t.c[c] for c in cols]).where(
        t.c.bucket_start >= to_db_ts(start), t.c.bucket_start < to_db_ts(end))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=cols)
    return _utc(frame, "bucket_start", "created_at")


def feedback_for(engine: Engine, alert_ids: list[int]) -> pd.DataFrame:
    """Every verdict ever given on these alerts (callers filter on ``given_at``)."""
    t = Feedback.__table__
    cols = ["alert_id", "verdict", "given_at"]
    rows: list = []
    with engine.connect() as conn:
        for i in range(0, len(alert_ids), 500):
            rows += conn.execute(sa.select(*[t.c[c] for c in cols]).where(
                t.c.alert_id.in_(alert_ids[i:i + 500]))).all()
    return _utc(pd.DataFrame(rows, columns=cols), "given_at")


def daily_volume(engine: Engine, day: pd.Timestamp) -> pd.DataFrame:
    """Per use case on one day: alerts raised and animals the champion scored."""
    p, a = Prediction.__table__, Alert.__table__
    lo, hi = to_db_ts(day), to_db_ts(day + DAY)
    with engine.connect() as conn:
        animals = conn.execute(sa.select(p.c.use_case, sa.func.count(sa.distinct(p.c.animal_id))).where(
            p.c.shadow.is_(False), p.c.bucket_start >= lo, p.c.bucket_start < hi).group_by(p.c.use_case)).all()
        alerts = conn.execute(sa.select(a.c.use_case, sa.func.count()).where(
            a.c.bucket_start >= lo, a.c.bucket_start < hi).group_by(a.c.use_case)).all()
    frame = pd.DataFrame(animals, columns=["use_case", "animals"]).merge(
        pd.DataFrame(alerts, columns=["use_case", "alerts"]), on="use_case", how="outer")
    frame["day"] = pd.Timestamp(day).normalize()
    return frame.fillna({"animals": 0, "alerts": 0}).astype({"animals": "int64", "alerts": "int64"})


def coverage(engine: Engine, use_case: str, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame, set[int]]:
    """Champion (animal, bucket) counts per day and model version, and the animals scored."""
    p = Prediction.__table__
    rows, animals = [], set()
    with engine.connect() as conn:
        for day in pd.date_range(start.normalize(), end, freq="D", inclusive="left"):
            cond = (p.c.use_case == use_case, p.c.shadow.is_(False), p.c.bucket_start >= to_db_ts(day),
                    p.c.bucket_start < to_db_ts(day + DAY))
            for version, n in conn.execute(sa.select(p.c.model_version, sa.func.count()).where(*cond)
                                           .group_by(p.c.model_version)).all():
                rows.append({"day": day, "model_version": str(version), "animal_buckets": int(n)})
            animals |= {int(r[0]) for r in conn.execute(sa.select(p.c.animal_id).where(*cond).distinct()).all()}
    frame = pd.DataFrame(rows, columns=["day", "model_version", "animal_buckets"])
    return frame, animals


def lag_rows(engine: Engine, day: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions: one row per bucket and run with its ``scored_at``; alerts with ``created_at``)."""
    p = Prediction.__table__
    lo, hi = to_db_ts(day), to_db_ts(day + DAY)
    q = sa.select(p.c.bucket_start, p.c.partition_key, sa.func.min(p.c.scored_at)).where(
        p.c.shadow.is_(False), p.c.bucket_start >= lo, p.c.bucket_start < hi
    ).group_by(p.c.bucket_start, p.c.partition_key)
    with engine.connect() as conn:
        preds = pd.DataFrame(conn.execute(q).all(), columns=["bucket_start", "partition_key", "scored_at"])
    preds = _utc(preds, "bucket_start", "scored_at")
    alerts = alerts_between(engine, day, day + DAY)
    return preds, alerts


def per_bucket_outputs(engine: Engine, start: pd.Timestamp, end: pd.Timestamp, dagster_run_id: str
                       ) -> dict[pd.Timestamp, dict[str, object]]:
    """Champion predictions, animals scored and new alerts (of one run) per bucket of a window.

    What a ranged ``scores`` run records per partition: two GROUP BYs over the window (the
    ``ix_predictions_bucket`` index), so a 144-bucket backfill reads 144 rows, not its predictions.
    """
    p, a = Prediction.__table__, Alert.__table__
    lo, hi = to_db_ts(start), to_db_ts(end)
    pq = (sa.select(p.c.bucket_start, p.c.use_case, sa.func.count(), sa.func.count(sa.distinct(p.c.animal_id)))
          .where(p.c.bucket_start >= lo, p.c.bucket_start < hi, p.c.shadow.is_(False))
          .group_by(p.c.bucket_start, p.c.use_case))
    aq = (sa.select(a.c.bucket_start, a.c.use_case, sa.func.count())
          .where(a.c.bucket_start >= lo, a.c.bucket_start < hi, a.c.dagster_run_id == dagster_run_id)
          .group_by(a.c.bucket_start, a.c.use_case))
    out: dict[pd.Timestamp, dict[str, object]] = {}
    with engine.connect() as conn:
        for bucket, _use_case, n, animals in conn.execute(pq):
            row = out.setdefault(pd.Timestamp(bucket).tz_localize("UTC"), {"predictions": 0, "animals": 0, "alerts": {}})
            row["predictions"] = int(row["predictions"]) + int(n)  # type: ignore[call-overload]
            row["animals"] = max(int(row["animals"]), int(animals))  # type: ignore[call-overload]
        for bucket, use_case, n in conn.execute(aq):
            row = out.setdefault(pd.Timestamp(bucket).tz_localize("UTC"), {"predictions": 0, "animals": 0, "alerts": {}})
            row["alerts"][use_case] = int(n)  # type: ignore[index]
    return out


def alerts_with_cows(engine: Engine, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The alerts with ``start <= bucket_start < end``, with the farm's number for each cow.

    ``cow`` is the farm's own cow number (imported herds), else the ear tag, else the animal id.
    """
    from smx_assets.domain.herd_db import Animal

    a, an = Alert.__table__, Animal.__table__
    cols = ["id", "use_case", "animal_id", "bucket_start", "score", "threshold", "model_name", "model_version",
            "mlflow_run_id", "created_at"]
    q = (sa.select(*[a.c[c] for c in cols], an.c.cow_number, an.c.ear_tag)
         .select_from(a.outerjoin(an, an.c.id == a.c.animal_id))
         .where(a.c.bucket_start >= to_db_ts(start), a.c.bucket_start < to_db_ts(end))
         .order_by(a.c.bucket_start, a.c.use_case, a.c.animal_id))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=cols + ["cow_number", "ear_tag"])
    frame["cow"] = [str(n or t or i) for n, t, i in zip(frame["cow_number"], frame["ear_tag"], frame["animal_id"])]
    return _utc(frame.drop(columns=["cow_number", "ear_tag"]), "bucket_start", "created_at")
