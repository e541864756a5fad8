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

from smx_assets.commands._args import int_in, require_data
from smx_assets.domain.monitoring.alert_lookup import add_story, explain
from smx_assets.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain an alert: features, model version, MLflow run, code version")
    p.add_argument("alert_id", type=int_in(1), help="the alert's id (smx summary, the alerts table)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="also draw the cow's temperature, activity, score vs threshold and farm records "
                        "around the alert to this PNG")
    p.set_defaults(func=run)


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


