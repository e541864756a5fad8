"""Monitoring and retraining jobs, and the daily monitoring schedule.

``retraining_job`` selects whatever learns from ``training_features`` (its downstream assets
outside monitoring: each use case's ``<uc>_model`` and ``<uc>_promotion``), so a use case added
to the catalog is retrained without touching this file.
"""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.monitoring.assets import MONITORING_ASSETS

FEATURE_ASSETS = dg.AssetSelection.assets("animal_profiles", "sensor_baselines", "training_features")
TRAINING_ASSETS = (dg.AssetSelection.assets("training_features").downstream()
                   - dg.AssetSelection.assets("training_features")
                   - dg.AssetSelection.groups("monitoring")
                   - dg.AssetSelection.assets("scores"))

monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=MONITORING_ASSETS,
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

monitoring_schedule = dg.build_schedule_from_partitioned_job(
    monitoring_job, name="monitoring_daily_schedule", hour_of_day=2, minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

# The weekly retrain-anyway schedule is the training layer's ``weekly_training_schedule``
# (smx_assets/defs/training/jobs.py): one weekly schedule, not two.
