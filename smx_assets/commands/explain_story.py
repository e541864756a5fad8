"""The readable story ``smx explain`` prints before its JSON: what the cow did, what the model
saw, why it alerted, and where it all came from.

:func:`gather` reads what the story needs (the cow's readings around the alert, the herd's
feature rows of the same bucket, her stored scores, the farm's records) and adds the figures to
the explain document under ``story``, so ``--json`` carries them too; :func:`lines` words them.
The arithmetic is :mod:`smx_assets.domain.monitoring.alert_story`.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from smx_assets.domain.monitoring import alert_story
from smx_assets.settings import Settings

SCORE_HISTORY = pd.Timedelta(hours=12)  # the score's run-up shown before the alert
RECORDS_AROUND = pd.Timedelta(days=7)  # farm records this close to the alert are part of the story


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _herd_rows(feature_ref: str | None, features_path: str, bucket: pd.Timestamp) -> pd.DataFrame | None:
    """Every animal's stored feature row of the alert's bucket (the Parquet the alert references)."""
    if not feature_ref or "#" not in feature_ref:
        return None
    import fsspec

    from smx_assets.domain.features.storage import FeatureFiles

    url = FeatureFiles(features_path).resolve(feature_ref.rpartition("#")[0])
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        frame = pd.read_parquet(fh)
    if "bucket_start" in frame:
        times = pd.to_datetime(frame["bucket_start"])
        times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
        frame = frame[times == bucket]
    return frame


def gather(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The story's figures for the alert of ``doc`` (an :func:`explain` document)."""
    from smx_assets.commands.alert_plot import _records
    from smx_assets.domain.score_store import ScoreFiles, ScoreStore
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.use_cases.catalog import use_case

    a = doc["alert"]
    bucket, animal_id = _utc(a["bucket_start"]), int(a["animal_id"])
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
        records = _records(engine, animal_id, bucket - RECORDS_AROUND, bucket + RECORDS_AROUND)
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


def _f(v: Any, fmt: str = ".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def lines(doc: dict[str, Any]) -> list[str]:
    """The story as text, one fact a line (a wide terminal is not assumed)."""
    from smx_assets.domain.features.pipeline import FEATURE_DOC

    a, story = doc["alert"], doc.get("story") or {}
    bucket = _utc(a["bucket_start"])
    cow = doc.get("animal") or {}
    who = (f"cow {cow['cow_number']} of farm {cow['farm']} (animal {a['animal_id']})" if cow
           else f"animal {a['animal_id']} (no farm on record)")
    raised = _utc(a["created_at"]) if a.get("created_at") else None
    ranged = ".." in str(a.get("partition_key") or "")  # a range run: history scored later, not live
    after = "" if raised is None else (
        f", by a run over {a['partition_key']} (scored after the fact)" if ranged else
        f", {(raised - bucket - alert_story.BUCKET) / pd.Timedelta(minutes=1):.0f} min after the bucket closed")
    out = [f"Alert {a['id']}: {a['use_case']} for {who}",
           f"  bucket {bucket:%Y-%m-%d %H:%M}..{bucket + alert_story.BUCKET:%H:%M} UTC, raised "
           f"{raised:%Y-%m-%d %H:%M} UTC{after}" if raised is not None else f"  bucket {bucket:%Y-%m-%d %H:%M} UTC",
           ""]
    did = story.get("cow_did") or {}
    t, act = did.get("temperature") or {}, did.get("activity") or {}
    out.append("What the cow did")
    if t.get("median_c") is not None:
        delta = f" ({t['delta_c']:+.2f} °C)" if t.get("delta_c") is not None else ""
        out.append(f"  temperature: median {t['median_c']:.2f} °C over the {t['hours']:.0f} h before the alert; "
                   f"her usual at those hours {_f(t.get('usual_median_c'))} °C{delta}")
    else:
        out.append(f"  temperature: no reading in the {t.get('hours', 6):.0f} h before the alert")
    if act.get("mean") is not None:
        ratio = f" (x{act['ratio']:.2f})" if act.get("ratio") is not None else ""
        out.append(f"  activity: mean {act['mean']:.1f} over the {act['hours']:.0f} h before; "
                   f"her usual at those hours {_f(act.get('usual_mean'), '.1f')}{ratio}")
    else:
        out.append(f"  activity: no reading in the {act.get('hours', 2):.0f} h before the alert")
    out.append(f"  ('her usual': the same clock hours on the previous {did.get('usual_days', 7)} days; "
               f"readings in the alert's bucket: {did.get('readings_in_bucket', 0)})")
    recs = did.get("farm_records") or []
    out.append("  farm records within 7 days: " + (", ".join(
        f"{r['what']} {_utc(r['at']):%m-%d %H:%M}" for r in recs) if recs else "none"))
    fb = doc.get("feedback") or []
    out.append("  farmer feedback: " + (", ".join(f"{f['verdict']}{' (' + f['diagnosis'] + ')' if f.get('diagnosis') else ''}"
                                                 for f in fb) if fb else "none yet"))
    out.append("")
    saw = story.get("model_saw") or {}
    feats = doc.get("features_on_alert") or {}
    out.append(f"What the model saw ({len(feats)} inputs; the {len(saw.get('top') or [])} furthest from the herd's "
               f"{saw.get('herd_animals', 0)} other cows in the same bucket)")
    for row in saw.get("top") or []:
        doc_text = FEATURE_DOC.get(row["feature"], "")
        side = (f"above {100 * row['share_below']:.0f}%" if row["share_below"] >= 0.5
                else f"below {100 * (1 - row['share_below']):.0f}%")
        out.append(f"  {row['feature']:28s} {row['value']:9.3f}   herd median {row['herd_median']:9.3f}, "
                   f"{side} of the herd" + (f"  ({doc_text})" if doc_text else ""))
    if saw.get("note"):
        out.append(f"  {saw['note']}")
    out.append("")
    why = story.get("why") or {}
    kind = "rule baseline" if str(a["model_name"]).endswith("-rule") else "model"
    out.append("Why it alerted")
    out.append(f"  {kind} {a['model_name']} v{a['model_version']} scored {a['score']:.3f} >= threshold "
               f"{a['threshold']:.3f}")
    if why.get("buckets_above"):
        since = _utc(why["above_since"])
        out.append(f"  at or above the threshold for {why['buckets_above']} bucket(s) in a row since "
                   f"{since:%Y-%m-%d %H:%M} UTC (highest before that: {_f(why.get('previous_max'), '.3f')})")
    if "min_consecutive" in why:
        out.append(f"  policy: an alert once {why['min_consecutive']} bucket(s) in a row reach the threshold, "
                   f"then no new {a['use_case']} alert for this cow for {why['refractory_hours']:.0f} h")
    out.append("")
    out.append("Lineage")
    mv = doc.get("model_version") or {}
    aliases = ", ".join(mv.get("aliases") or []) or "none now"
    out.append(f"  model {a['model_name']} v{a['model_version']} (aliases today: {aliases}), "
               f"MLflow run {a.get('mlflow_run_id') or 'none'}")
    mlrun = doc.get("mlflow_run") or {}
    if "params" in mlrun:
        data = {k: v for k, v in mlrun["params"].items()
                if any(s in k for s in ("partition", "day", "rows", "range", "window"))}
        if data:
            out.append(f"  trained on: {json.dumps(data, default=str)}")
        wanted = ("f1", "precision", "sensitivity", "lead_time_median_h", "false_alerts_per_100_cow_days", "n_events")
        metrics = {k: round(v, 3) for k, v in mlrun["metrics"].items()
                   if k.removeprefix("eval.") in wanted and k.count(".") <= 1}
        if metrics:
            out.append(f"  evaluated at training (held-out days): {json.dumps(metrics)}")
    if doc.get("promotion_decision"):
        decision = {k.removeprefix("smx.promotion."): v for k, v in doc["promotion_decision"].items()}
        said = "; ".join(f"{k} {decision[k]}" for k in ("decision", "winner", "reason") if k in decision)
        out.append(f"  promotion: {said or 'recorded without a reason'} (all figures in the JSON)")
    out.append(f"  code version {doc.get('code_version')}, Dagster run {doc.get('dagster_run_id')}, "
               f"partition {a.get('partition_key')}")
    out.append(f"  feature vector: {a.get('feature_ref')}")
    return out


__all__ = ["gather", "lines"]
