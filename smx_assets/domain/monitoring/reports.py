"""Drift reports as MLflow artifacts: one monitoring run per report day, reachable over HTTP.

Why MLflow: the report used to be a file under the feature store, linked as ``file://`` on the
server, which no browser elsewhere opens. The MLflow UI (``make ui`` starts it) already serves
every run's artifacts, so each day's self-contained Evidently HTML is logged to a run of the
``smx-monitoring`` experiment and linked from the ``drift_report`` materialisation with
:func:`smx_assets.domain.model_registry.links.artifact_url`.

One run per day, found again by its ``smx.drift_day`` tag: re-materialising a day replaces that
run's report (same artifact path) and metrics instead of piling up runs. Daily, never in the
10-minute scoring path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smx_assets.domain.model_registry.tracking import ensure_experiment

EXPERIMENT = "smx-monitoring"
DAY_TAG = "smx.drift_day"
ARTIFACT_DIR = "drift_reports"


@dataclass(frozen=True)
class LoggedReport:
    experiment_id: str
    run_id: str
    artifact_path: str  # relative to the run's artifact root


def log_drift_report(client: Any, html_path: str | Path, day: str, metrics: dict[str, float],
                     tags: dict[str, str] | None = None) -> LoggedReport:
    """Log ``html_path`` as ``drift_reports/<day>.html`` on the day's monitoring run (created once)."""
    experiment_id = ensure_experiment(EXPERIMENT, client)
    found = client.search_runs([experiment_id], filter_string=f"tags.`{DAY_TAG}` = '{day}'", max_results=1)
    if found:
        run_id = found[0].info.run_id
    else:
        run_id = client.create_run(experiment_id, run_name=f"drift-{day}",
                                   tags={DAY_TAG: day, "smx.run_kind": "monitoring"}).info.run_id
    try:
        for key, value in (tags or {}).items():
            client.set_tag(run_id, key, value)
        for key, value in metrics.items():
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                client.log_metric(run_id, key, float(value))
        name = f"{day}.html"
        src = Path(html_path)
        if src.name != name:  # the artifact keeps the day's name whatever the temp file was called
            target = src.with_name(name)
            target.write_bytes(src.read_bytes())
            src = target
        client.log_artifact(run_id, str(src), artifact_path=ARTIFACT_DIR)
    finally:
        client.set_terminated(run_id, "FINISHED")
    return LoggedReport(experiment_id, run_id, f"{ARTIFACT_DIR}/{day}.html")


__all__ = ["ARTIFACT_DIR", "DAY_TAG", "EXPERIMENT", "LoggedReport", "log_drift_report"]
