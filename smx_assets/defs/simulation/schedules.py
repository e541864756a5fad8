"""The live simulation's ten-minute schedule: RUNNING only with ``SMX_LIVE_SIMULATION=1`` (demo)."""

from __future__ import annotations

import dagster as dg

from smx_assets import settings
from smx_assets.defs.simulation.jobs import live_simulation_job
from smx_assets.domain.time_grid import BUCKET_CRON

live_simulation_schedule = dg.ScheduleDefinition(
    job=live_simulation_job,
    cron_schedule=BUCKET_CRON,
    execution_timezone="UTC",
    description="Demo only (on with SMX_LIVE_SIMULATION=1, as `make ui` sets): every ten minutes the "
                "simulated farm delivers what has arrived since, up to the wall clock.",
    default_status=(dg.DefaultScheduleStatus.RUNNING if settings.current().operations.live_simulation
                    else dg.DefaultScheduleStatus.STOPPED),
)
