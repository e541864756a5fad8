from __future__ import annotations

import dagster as dg

from smx_assets.defs.features.assets import animal_profiles, sensor_baselines, training_features

defs = dg.Definitions(assets=[animal_profiles, sensor_baselines, training_features])
