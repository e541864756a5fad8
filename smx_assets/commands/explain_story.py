"""The readable story ``smx explain`` prints before its JSON: what the cow did, what the model
saw, why it alerted, and where it all came from.

:func:`smx_assets.domain.monitoring.alert_lookup.story_figures` reads what the story needs
(the cow's readings around the alert, the herd's feature rows of the same bucket, her stored
scores, the farm's records) and puts the figures under ``story`` in the explain document, so
``--json`` and the API carry them too; :func:`lines` words them here.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from smx_assets.domain.monitoring import alert_story
from smx_assets.domain.monitoring.alert_lookup import utc as _utc


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


__all__ = ["lines"]
