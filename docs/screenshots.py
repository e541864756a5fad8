"""Screenshots of the Dagster and MLflow UIs as a person sees them (headless Chromium).

Run after ``make demo`` with ``make ui`` serving (Dagster on SMX_DAGSTER_UI_URL, MLflow UI on
SMX_MLFLOW_UI_URL)::

    .venv/bin/python docs/screenshots.py

It reads the demo's instance for a scored bucket and the drift report's link, opens each page
in Debian's ``chromium`` (``apt-get install chromium``) and writes ``docs/img/*.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "img"


def _latest(instance, asset: str):  # type: ignore[no-untyped-def]
    import dagster as dg

    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:
        sys.exit(f"screenshots: no {asset} materialisation in this instance: run `make demo` first")
    return event.asset_materialization


def _shot(name: str, url: str, size: str = "1600,1000") -> None:
    target = OUT / f"{name}.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={size}", "--virtual-time-budget=40000", f"--screenshot={target}", url],
                   check=True, capture_output=True, timeout=180)
    print(f"{target.relative_to(OUT.parents[1])}  <- {url}")


def main() -> int:
    if shutil.which("chromium") is None:
        print("screenshots: needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    import dagster as dg

    from smx_assets.settings import Settings

    dagster = Settings.from_env(create_home=False).dagster_ui_url  # where `make ui` serves it
    OUT.mkdir(exist_ok=True)
    instance = dg.DagsterInstance.get()
    bucket = _latest(instance, "scores").partition
    drift = _latest(instance, "drift_report")
    report_url = drift.metadata["report_url"].value
    _shot("lineage", f"{dagster}/assets/scores?view=lineage&lineageScope=neighbors&lineageDepth=4", "1800,1000")
    _shot("scores_partition", f"{dagster}/assets/scores?view=partitions&partition={bucket}", "1600,1500")
    _shot("heat_model", f"{dagster}/assets/heat_model", "1600,1300")
    _shot("drift_report_asset", f"{dagster}/assets/drift_report?view=partitions&partition={drift.partition}", "1600,1300")
    _shot("drift_report_in_mlflow", report_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
