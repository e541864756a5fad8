"""The daily feature job (one partition a day; its schedule is in ``schedules.py``)."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features

daily_features_job = dg.define_asset_job(
    "daily_features_job",
    selection=[animal_profiles, sensor_baselines, training_features],
    tags={"smx/run_kind": "features"},
    description="animal_profiles, sensor_baselines and training_features for one UTC day.",
)
