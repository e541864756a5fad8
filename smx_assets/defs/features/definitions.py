from __future__ import annotations

import dagster as dg

from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features
from smx_assets.defs.features.jobs import daily_features_job, daily_features_schedule

defs = dg.Definitions(assets=[animal_profiles, sensor_baselines, training_features], jobs=[daily_features_job],
                      schedules=[daily_features_schedule])
