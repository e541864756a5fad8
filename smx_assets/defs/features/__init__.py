"""The feature layer as daily assets (animal_profiles, sensor_baselines, training_features), their job and schedule.

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
