"""Alerts as the CLI and the HTTP API read them: the listing query, how an alert's time is
written, an alert's lineage document and the figures of its story.

Why here and not in ``commands/``: ``smx alerts``/``smx explain`` and the API's
``GET /v1/alerts`` and ``GET /v1/alerts/{id}`` must answer the same; both layers read this one
module (the story's arithmetic is :mod:`smx_assets.domain.monitoring.alert_story`, its wording
``commands/explain_story.py``).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.monitoring import alert_story
from smx_assets.settings import Settings

# An alert's place in the listing order (bucket, farm, animal, id): a page's cursor is its last row's.
AlertKey = tuple[pd.Timestamp, str, int, int]


def utc(value: Any) -> pd.Timestamp:
    """A stored time (naive UTC on SQLite, aware on PostgreSQL, or ISO text) as aware UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def alert_rows(engine: sa.Engine, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
               use_case: str | None = None, *, farm: str | None = None, after: AlertKey | None = None,
               limit: int | None = None) -> pd.DataFrame:
    """The alerts in ``[start, end)`` (of one use case / farm), oldest first, ordered by bucket,
    farm, animal and id; ``after``: only those past that key, ``limit``: at most that many.

    The one query behind ``smx alerts`` and the API's ``GET /v1/alerts`` (keyset pages): columns
    ``alert_id``, ``farm``, ``cow_number`` (the farm's number, else the ear tag), ``animal_id``,
    ``bucket_start`` (aware UTC), ``use_case``, ``model``, ``version``, ``score`` (full precision).
    Bound, typed parameters only: the herd DB compares its own timestamp spelling.
    """
    from smx_assets.domain.herd_db import Alert, Animal, Farm, from_db_ts, to_db_ts

    al, an, f = Alert.__table__, Animal.__table__, Farm.__table__
    q = (sa.select(al.c.id, f.c.name, sa.func.coalesce(an.c.cow_number, an.c.ear_tag), an.c.id, al.c.bucket_start,
                   al.c.use_case, al.c.model_name, al.c.model_version, al.c.score)
         .select_from(al.join(an, an.c.id == al.c.animal_id).join(f, f.c.id == an.c.farm_id)))
    if start is not None:
        q = q.where(al.c.bucket_start >= to_db_ts(start))
    if end is not None:
        q = q.where(al.c.bucket_start < to_db_ts(end))
    if use_case:
        q = q.where(al.c.use_case == use_case)
    if farm is not None:
        q = q.where(f.c.name == farm)
    if after is not None:
        b, name, animal, alert_id = after
        q = q.where(sa.tuple_(al.c.bucket_start, f.c.name, an.c.id, al.c.id)
                    > sa.tuple_(sa.literal(to_db_ts(b), sa.DateTime()), sa.literal(name, sa.String()),
                                sa.literal(int(animal), sa.Integer()), sa.literal(int(alert_id), sa.Integer())))
    q = q.order_by(al.c.bucket_start, f.c.name, an.c.id, al.c.id)
    if limit is not None:
        q = q.limit(int(limit))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    frame = pd.DataFrame(rows, columns=["alert_id", "farm", "cow_number", "animal_id", "bucket_start", "use_case",
                                        "model", "version", "score"])
    frame["bucket_start"] = [from_db_ts(b) for b in frame["bucket_start"]]
    frame["score"] = frame["score"].astype(float)
    return frame


def alert_time(bucket_start: pd.Timestamp) -> str:
    """How an alert's time is written (CSV, API): its bucket start, UTC, ISO 8601."""
    return pd.Timestamp(bucket_start).strftime("%Y-%m-%dT%H:%M:%SZ")


def farm_records(engine: sa.Engine, animal_id: int, lo: pd.Timestamp, hi: pd.Timestamp) -> list[tuple[pd.Timestamp, str]]:
    """(time, label) of the cow's farm records inside ``[lo, hi)``."""
    queries = (("SELECT calving_at FROM lactations WHERE animal_id = :a", "calving"),
               ("SELECT at FROM inseminations WHERE animal_id = :a", "insemination"),
               ("SELECT diagnosed_at, diagnosis FROM treatments WHERE animal_id = :a", "treatment"))
    out: list[tuple[pd.Timestamp, str]] = []
    with engine.connect() as conn:
        for sql, label in queries:
            for row in conn.execute(sa.text(sql), {"a": animal_id}):
                if row[0] is None:
                    continue
                t = utc(row[0])
                if lo <= t < hi:
                    out.append((t, f"{label} ({row[1]})" if label == "treatment" and row[1] else label))
    return sorted(out)


def _referenced_file(feature_ref: str | None, features_path: str) -> pd.DataFrame | None:
    """The stored feature Parquet an alert's ``<parquet url>#animal_id=<id>`` names (None when
    there is no reference or the file is gone). The stored URL has any password masked; the
    configured features path supplies it again."""
    if not feature_ref or "#" not in feature_ref:
        return None
    import fsspec

    from smx_assets.domain.features.storage import FeatureFiles

    fs, path = fsspec.core.url_to_fs(FeatureFiles(features_path).resolve(feature_ref.rpartition("#")[0]))
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        return pd.read_parquet(fh)


def feature_row(feature_ref: str | None, features_path: str) -> dict[str, Any] | None:
    """The full stored feature vector behind ``<parquet url>#animal_id=<id>``."""
    frame = _referenced_file(feature_ref, features_path)
    if frame is None:
        return None
    key, _, value = feature_ref.rpartition("#")[2].partition("=")  # type: ignore[union-attr]
    rows = frame[frame[key].astype(str) == value]
    if rows.empty:
        return None
    row = rows.iloc[0].to_dict()
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else (None if pd.isna(v) else v)) for k, v in row.items()}


def explain(alert_id: int, settings: Settings) -> dict[str, Any]:
    """The alert's lineage document (``smx explain --json`` and the API's ``GET /v1/alerts/{id}``):
    the alert row, the farm's name for the cow, the feature vector, feedback, the model version,
    its promotion decision and MLflow run. ``LookupError`` for an unknown id."""
    from smx_assets.domain import model_registry
    from smx_assets.domain.sql_engine import make_engine

    engine = make_engine(settings.herd_db_url, connect_timeout_s=settings.database.connect_timeout_s)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM alerts WHERE id = :id"), {"id": alert_id}).mappings().first()
            if row is None:
                raise LookupError(f"no alert with id {alert_id} in {engine.url.render_as_string(hide_password=True)}")
            alert = dict(row)
            animal = conn.execute(sa.text(
                "SELECT a.cow_number, a.ear_tag, f.name AS farm FROM animals a JOIN farms f ON f.id = a.farm_id "
                "WHERE a.id = :id"), {"id": alert["animal_id"]}).mappings().first()
            feedback = [dict(r) for r in conn.execute(
                sa.text("SELECT verdict, diagnosis, given_at FROM feedback WHERE alert_id = :id ORDER BY given_at"),
                {"id": alert_id}).mappings()]
    finally:
        engine.dispose()

    client = model_registry.configure(settings.mlflow_tracking_uri)
    features = alert.get("features")
    if isinstance(features, str):  # a raw SQL read returns the JSON column as text
        features = json.loads(features)
    out: dict[str, Any] = {
        "alert": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in alert.items() if k != "features"},
        # the farm's own number for the cow (imported herds), else its ear tag
        "animal": ({"farm": animal["farm"], "cow_number": animal["cow_number"] or animal["ear_tag"]}
                   if animal else None),
        "features_on_alert": features,
        "feature_vector": feature_row(alert.get("feature_ref"), settings.features_path),
        "feedback": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in f.items()} for f in feedback],
        "code_version": alert["code_version"],
        "dagster_run_id": alert.get("dagster_run_id"),
    }
    try:
        mv = client.get_model_version(alert["model_name"], str(alert["model_version"]))
        out["model_version"] = {"name": mv.name, "version": str(mv.version), "run_id": mv.run_id,
                                "aliases": list(getattr(mv, "aliases", []) or []), "tags": dict(mv.tags or {})}
        out["promotion_decision"] = {k: v for k, v in (mv.tags or {}).items() if k.startswith("smx.promotion.")}
    except Exception as exc:  # noqa: BLE001 - the alert stays explainable without the registry
        out["model_version"] = {"error": f"{type(exc).__name__}: {exc}"}
    run_id = alert.get("mlflow_run_id")
    if run_id:
        try:
            run = client.get_run(run_id)
            out["mlflow_run"] = {
                "run_id": run_id, "status": run.info.status, "experiment_id": run.info.experiment_id,
                "params": dict(run.data.params), "metrics": dict(run.data.metrics),
                "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            }
        except Exception as exc:  # noqa: BLE001
            out["mlflow_run"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def add_story(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Put the story's figures under ``story``: ``--json`` and the API's alert detail carry the same
    document. A store that does not answer leaves the lineage whole and says so under ``story``."""
    try:
        doc["story"] = story_figures(doc, settings)
    except Exception as exc:  # noqa: BLE001 - the lineage stays printable when a store is unreachable
        doc["story"] = {"error": f"{type(exc).__name__}: {exc}"}
    return doc


SCORE_HISTORY = pd.Timedelta(hours=12)  # the score's run-up shown before the alert
RECORDS_AROUND = pd.Timedelta(days=7)  # farm records this close to the alert are part of the story


def _herd_rows(feature_ref: str | None, features_path: str, bucket: pd.Timestamp) -> pd.DataFrame | None:
    """Every animal's stored feature row of the alert's bucket (the Parquet the alert references)."""
    frame = _referenced_file(feature_ref, features_path)
    if frame is None:
        return None
    if "bucket_start" in frame:
        times = pd.to_datetime(frame["bucket_start"])
        times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
        frame = frame[times == bucket]
    return frame


def story_figures(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The story's figures for the alert of ``doc`` (an :func:`explain` document)."""
    from smx_assets.domain.score_store import ScoreFiles, ScoreStore
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.use_cases.catalog import use_case

    a = doc["alert"]
    bucket, animal_id = utc(a["bucket_start"]), int(a["animal_id"])
    story: dict[str, Any] = {}
    store = open_sensor_store(settings.sensor_store_url, connect_timeout_s=settings.database.connect_timeout_s)
    try:
        lo = bucket - alert_story.USUAL_DAYS * alert_story.DAY - alert_story.TEMP_WINDOW
        readings = store.read_bolus(lo, bucket + alert_story.BUCKET, [animal_id])
    finally:
        store.close()
    story["cow_did"] = alert_story.signal_summary(readings, bucket)
    engine = make_engine(settings.herd_db_url, connect_timeout_s=settings.database.connect_timeout_s)
    try:
        records = farm_records(engine, animal_id, bucket - RECORDS_AROUND, bucket + RECORDS_AROUND)
        scores = ScoreStore(engine, ScoreFiles(settings.features_path)).read(
            bucket - SCORE_HISTORY, bucket + alert_story.BUCKET, use_case=a["use_case"], shadow=False,
            animal_ids=[animal_id], lineage=())
    finally:
        engine.dispose()
    story["cow_did"]["farm_records"] = [{"at": t.isoformat(), "what": what} for t, what in records]
    herd = _herd_rows(a.get("feature_ref"), settings.features_path, bucket)
    seen = doc.get("features_on_alert") or {}
    story["model_saw"] = (alert_story.herd_comparison(herd, animal_id, seen) if herd is not None and len(herd)
                          else {"herd_animals": 0, "features_compared": 0, "top": [],
                                "note": "the bucket's stored feature rows are gone (retention) or were never written"})
    why = alert_story.score_run(scores[["bucket_start", "score"]] if len(scores) else scores, bucket,
                                float(a["threshold"]))
    try:
        policy = use_case(a["use_case"]).alert_policy
        why.update(min_consecutive=int(policy.min_consecutive),
                   refractory_hours=policy.refractory / pd.Timedelta(hours=1))
    except (KeyError, LookupError):  # a use case no longer in the catalog: the alert row still tells
        pass
    story["why"] = why
    return story
