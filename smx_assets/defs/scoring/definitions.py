from __future__ import annotations

import dagster as dg

from smx_assets.defs.scoring.assets import scores
from smx_assets.defs.scoring.jobs import scoring_job, scoring_schedule
from smx_assets.defs.scoring.sensors import scoring_sensor

defs = dg.Definitions(assets=[scores], jobs=[scoring_job], schedules=[scoring_schedule], sensors=[scoring_sensor])
