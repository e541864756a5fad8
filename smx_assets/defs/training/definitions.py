from __future__ import annotations

import dagster as dg

from smx_assets.defs.training.assets import MODEL_ASSETS, PROMOTION_ASSETS
from smx_assets.defs.training.jobs import rollback_job, training_job, weekly_training_schedule

defs = dg.Definitions(assets=[*MODEL_ASSETS, *PROMOTION_ASSETS], jobs=[training_job, rollback_job],
                      schedules=[weekly_training_schedule])
