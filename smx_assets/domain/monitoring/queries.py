"""Reads monitoring needs: alerts and feedback from the herd DB (SQLAlchemy Core, SQLite and
PostgreSQL alike), scores from the score store, run timings from the scoring lineage.

A day of champion scores is read once, as three columns of the day's compacted Parquet file
(``domain/score_store``): animals per day and coverage per version are counted from it in
pandas, and operations' lag comes from the lineage (one row per run and model), not from scores.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import Alert, Feedback, to_db_ts
from smx_assets.domain.score_store.lineage import lineage_rows
from smx_assets.domain.score_store.store import ScoreStore
from smx_assets.domain.time_grid import BUCKET

DAY = pd.Timedelta(days=1)


def _utc(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for c in cols:
        if c in frame:
            frame[c] = pd.to_datetime(frame[c]).dt.tz_localize("UTC") if len(frame) else pd.Series(
                dtype="datetime64[ns, UTC]")
    return frame


def champion_predictions(scores: ScoreStore, start: pd.Timestamp, end: pd.Timestamp,
                         columns: tuple[str, ...] = ("use_case", "animal_id", "bucket_start", "score")) -> pd.DataFrame:
    """Champion (non-shadow) scores with ``start <= bucket_start < end``."""
    lineage = tuple(c for c in columns if c not in ("animal_id", "bucket_start", "score", "lineage_id"))
    frame = scores.read(start, end, shadow=False, lineage=lineage)
    return frame[list(columns)].reset_index(drop=True)


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


VERDICTS = ("confirmed", "rejected")  # what a farmer can answer (the simulator also writes "ignored")


def record_feedback(engine: Engine, alert_id: int, verdict: str, *, note: str | None = None,
                    given_at: pd.Timestamp | None = None) -> dict[str, object] | None:
    """Store a farmer's verdict on an alert where :func:`feedback_for` (model performance) reads
    it; ``given_at`` (when the farmer gave it: an app that was offline sends it later) defaults
    to now. None when no alert has that id (nothing written); ``ValueError`` for a verdict other
    than :data:`VERDICTS` or a time before the alert or in the future."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
    now = pd.Timestamp.now(tz="UTC")
    given = now if given_at is None else pd.Timestamp(given_at)
    given = given.tz_localize("UTC") if given.tzinfo is None else given.tz_convert("UTC")
    if given > now + pd.Timedelta(minutes=5):
        raise ValueError(f"given_at {given:%Y-%m-%dT%H:%M}Z is in the future")
    a, t = Alert.__table__, Feedback.__table__
    with engine.begin() as conn:
        row = conn.execute(sa.select(a.c.id, a.c.bucket_start).where(a.c.id == int(alert_id))).first()
        if row is None:
            return None
        alert_at = pd.Timestamp(row[1]).tz_localize("UTC")
        if given < alert_at:
            raise ValueError(f"given_at {given:%Y-%m-%dT%H:%M}Z is before the alert ({alert_at:%Y-%m-%dT%H:%M}Z)")
        new_id = conn.execute(t.insert().values(alert_id=int(alert_id), verdict=verdict, note=note,
                                                given_at=to_db_ts(given)).returning(t.c.id)).scalar_one()
    return {"feedback_id": int(new_id), "alert_id": int(alert_id), "verdict": verdict, "given_at": given}


def daily_volume(engine: Engine, scores: ScoreStore, day: pd.Timestamp) -> pd.DataFrame:
    """Per use case on one day: alerts raised and animals the champion scored."""
    a = Alert.__table__
    lo, hi = to_db_ts(day), to_db_ts(day + DAY)
    champion = champion_predictions(scores, day, day + DAY, columns=("use_case", "animal_id"))
    animals = champion.groupby("use_case")["animal_id"].nunique().reset_index(name="animals") if len(champion) \
        else pd.DataFrame(columns=["use_case", "animals"])
    with engine.connect() as conn:
        alerts = conn.execute(sa.select(a.c.use_case, sa.func.count()).where(
            a.c.bucket_start >= lo, a.c.bucket_start < hi).group_by(a.c.use_case)).all()
    frame = animals.merge(pd.DataFrame(alerts, columns=["use_case", "alerts"]), on="use_case", how="outer")
    frame["day"] = pd.Timestamp(day).normalize()
    return frame.fillna({"animals": 0, "alerts": 0}).astype({"animals": "int64", "alerts": "int64"})


def coverage(scores: ScoreStore, use_case: str, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame, set[int]]:
    """Champion (animal, bucket) counts per day and model version, and the animals scored."""
    rows, animals = [], set()
    for day in pd.date_range(start.normalize(), end, freq="D", inclusive="left"):
        frame = scores.read(day, day + DAY, use_case=use_case, shadow=False, lineage=("model_version",))
        for version, n in frame.groupby("model_version").size().items():
            rows.append({"day": day, "model_version": str(version), "animal_buckets": int(n)})
        animals |= set(frame["animal_id"].astype(int).tolist())
    frame = pd.DataFrame(rows, columns=["day", "model_version", "animal_buckets"])
    return frame, animals


def lag_rows(engine: Engine, day: pd.Timestamp, lineage: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per bucket and run that scored it, with ``scored_at`` and ``partition_key``, from
    ``lineage``, the day's :func:`champion_runs`; alerts with ``created_at``). Runs that wrote no
    score (a bucket without readings, a run that died) are left out, as they left no prediction
    before."""
    runs = lineage[lineage["n_scores"].fillna(0) > 0]
    out = []
    for (ws, we, key), group in runs.groupby(["window_start", "window_end", "partition_key"], sort=True):
        scored_at = group["scored_at"].min()
        for bucket in pd.date_range(max(ws, day), min(we, day + DAY), freq=BUCKET, inclusive="left"):
            out.append({"bucket_start": bucket, "partition_key": key, "scored_at": scored_at})
    preds = pd.DataFrame(out, columns=["bucket_start", "partition_key", "scored_at"])
    alerts = alerts_between(engine, day, day + DAY)
    return preds, alerts


def champion_runs(engine: Engine, day: pd.Timestamp) -> pd.DataFrame:
    """The champion lineage rows of the runs whose window overlaps ``day`` (for :func:`lag_rows`
    and :func:`smx_assets.domain.monitoring.latency.bucket_latencies`: read once a day)."""
    return lineage_rows(engine, start=day, end=day + DAY, shadow=False)


def alerts_per_bucket(engine: Engine, start: pd.Timestamp, end: pd.Timestamp, dagster_run_id: str | None = None
                      ) -> dict[pd.Timestamp, dict[str, int]]:
    """Alerts per bucket and use case of a window (of one run when given): two columns of a
    GROUP BY, so a 144-bucket backfill reads 144 rows."""
    a = Alert.__table__
    conds = [a.c.bucket_start >= to_db_ts(start), a.c.bucket_start < to_db_ts(end)]
    if dagster_run_id is not None:
        conds.append(a.c.dagster_run_id == dagster_run_id)
    out: dict[pd.Timestamp, dict[str, int]] = {}
    with engine.connect() as conn:
        for bucket, use_case, n in conn.execute(sa.select(a.c.bucket_start, a.c.use_case, sa.func.count())
                                                .where(*conds).group_by(a.c.bucket_start, a.c.use_case)):
            out.setdefault(pd.Timestamp(bucket).tz_localize("UTC"), {})[use_case] = int(n)
    return out


def alerts_with_cows(engine: Engine, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The alerts with ``start <= bucket_start < end``, with the farm and its number for each cow.

    ``cow`` is the farm's own cow number (imported herds), else the ear tag, else the animal id;
    ``farm`` the farm's name: cow numbers are unique per farm only, so a cow is never named
    without its farm.
    """
    from smx_assets.domain.herd_db import Animal, Farm

    a, an, f = Alert.__table__, Animal.__table__, Farm.__table__
    cols = ["id", "use_case", "animal_id", "bucket_start", "score", "threshold", "model_name", "model_version",
            "mlflow_run_id", "created_at"]
    q = (sa.select(*[a.c[c] for c in cols], an.c.cow_number, an.c.ear_tag, f.c.name)
         .select_from(a.outerjoin(an, an.c.id == a.c.animal_id).outerjoin(f, f.c.id == an.c.farm_id))
         .where(a.c.bucket_start >= to_db_ts(start), a.c.bucket_start < to_db_ts(end))
         .order_by(a.c.bucket_start, a.c.use_case, a.c.animal_id))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=cols + ["cow_number", "ear_tag", "farm"])
    frame["cow"] = [str(n or t or i) for n, t, i in zip(frame["cow_number"], frame["ear_tag"], frame["animal_id"])]
    frame["farm"] = frame["farm"].fillna("unknown farm").astype(str)
    return _utc(frame.drop(columns=["cow_number", "ear_tag"]), "bucket_start", "created_at")
