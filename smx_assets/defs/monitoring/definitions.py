from __future__ import annotations

import dagster as dg

from smx_assets.defs.monitoring.assets import MONITORING_ASSETS
from smx_assets.defs.monitoring.jobs import (
    monitoring_job,
    monitoring_schedule,
    retraining_features_job,
    retraining_job,
)
from smx_assets.defs.monitoring.sensors import retraining_sensor

defs = dg.Definitions(
    assets=MONITORING_ASSETS,
    jobs=[monitoring_job, retraining_features_job, retraining_job],
    schedules=[monitoring_schedule],
    sensors=[retraining_sensor],
)
