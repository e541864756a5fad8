"""Monitoring and retraining jobs (the daily schedule is in ``schedules.py``).

``retraining_job`` selects whatever learns from ``training_features`` (its downstream assets
outside monitoring: each use case's ``<uc>_model`` and ``<uc>_promotion``), so a use case added
to the catalog is retrained without touching this file.
"""

from __future__ import annotations

import dagster as dg

FEATURE_ASSETS = dg.AssetSelection.assets("animal_profiles", "sensor_baselines", "training_features")
TRAINING_ASSETS = (dg.AssetSelection.assets("training_features").downstream()
                   - dg.AssetSelection.assets("training_features")
                   - dg.AssetSelection.groups("monitoring")
                   - dg.AssetSelection.assets("scores"))

monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=dg.AssetSelection.groups("monitoring"),
    executor_def=dg.in_process_executor,  # four light steps: a process each would cost more than the work
    tags={"smx/run_kind": "monitoring"},
    description="Daily monitoring: drift report, alert volume, delayed-label performance, scoring operations.",
)

retraining_features_job = dg.define_asset_job(
    "retraining_features_job",
    selection=FEATURE_ASSETS,
    tags={"smx/run_kind": "retraining_backfill"},
    description="Backfill of the daily feature assets over the missing days of the training window "
                "(single run: the assets loop over the range).",
)

retraining_job = dg.define_asset_job(
    "retraining_job",
    selection=TRAINING_ASSETS,
    tags={"smx/run_kind": "retraining"},
    description="Train every use case on the stored training_features and run promotion.",
)
