"""``smx explain ALERT_ID``: an alert traced back to its data, model and code.

Prints a story first (``commands/explain_story.py``): what the cow did (temperature and
activity against her own usual, the farm's records), what the model saw (its inputs furthest
from the herd's in the same bucket), why it alerted (the score's run above the threshold and
the alert policy) and the lineage (model version, MLflow run, promotion decision, code version,
Dagster run); then the same and more as one JSON document (the feature vector from the alert
row and the stored Parquet it references). ``--json`` prints the JSON alone, for tooling;
``--plot FILE.png`` draws the cow's signals, the score against the threshold and the farm
records around the alert (``commands/alert_plot.py``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import pandas as pd
import sqlalchemy as sa

from smx_assets.commands._args import int_in, require_data
from smx_assets.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain an alert: features, model version, MLflow run, code version")
    p.add_argument("alert_id", type=int_in(1), help="the alert's id (smx summary, the alerts table)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="also draw the cow's temperature, activity, score vs threshold and farm records "
                        "around the alert to this PNG")
    p.set_defaults(func=run)


def _feature_row(feature_ref: str | None, features_path: str) -> dict[str, Any] | None:
    """The full stored feature vector behind ``<parquet url>#animal_id=<id>``.

    The stored URL has any password masked; the configured features path supplies it again.
    """
    if not feature_ref or "#" not in feature_ref:
        return None
    from smx_assets.domain.features.storage import FeatureFiles

    url, _, frag = feature_ref.rpartition("#")
    url = FeatureFiles(features_path).resolve(url)
    key, _, value = frag.partition("=")
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        frame = pd.read_parquet(fh)
    rows = frame[frame[key].astype(str) == value]
    if rows.empty:
        return None
    row = rows.iloc[0].to_dict()
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else (None if pd.isna(v) else v)) for k, v in row.items()}


def explain(alert_id: int, settings: Settings) -> dict[str, Any]:
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
        "feature_vector": _feature_row(alert.get("feature_ref"), settings.features_path),
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


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(create_home=False)
    require_data(settings.herd_db_url)
    try:
        doc = explain(args.alert_id, settings)
    except LookupError as exc:
        print(str(exc))
        return 1
    plot = getattr(args, "plot", None)
    if plot:
        if not str(plot).lower().endswith(".png"):
            print(f"smx explain: --plot {plot}: give a .png file name")
            return 2
        from smx_assets.commands.alert_plot import plot_alert

        cow = doc.get("animal") or {}
        drawn = plot_alert(doc["alert"], settings, plot,
                           cow=f"cow {cow['cow_number']} of farm {cow['farm']}" if cow else None)
        doc["plot"] = {"path": str(drawn.path), "readings": drawn.readings, "scores": drawn.scores,
                       "records": drawn.records, "title": drawn.title}
    from smx_assets.commands import explain_story

    add_story(doc, settings)
    if not args.json:  # the story first, for a person; the JSON after it, for tooling
        for line in explain_story.lines(doc):
            print(line)
        print(f"  replay it from the raw readings and this model version: smx replay {doc['alert']['id']}")
        if "error" in doc["story"]:
            print(f"  (story incomplete: {doc['story']['error']})")
        if "plot" in doc:
            p = doc["plot"]
            print(f"  plot: {p['path']} ({p['readings']} readings, {p['scores']} scores, {p['records']} farm records)")
        print()
        print("JSON (smx explain --json prints it alone):")
    print(json.dumps(doc, indent=2, default=str))
    return 0


def add_story(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Put the story's figures under ``story``: ``--json`` and the API's alert detail carry the same
    document. A store that does not answer leaves the lineage whole and says so under ``story``."""
    from smx_assets.commands import explain_story

    try:
        doc["story"] = explain_story.gather(doc, settings)
    except Exception as exc:  # noqa: BLE001 - the lineage stays printable when a store is unreachable
        doc["story"] = {"error": f"{type(exc).__name__}: {exc}"}
    return doc
