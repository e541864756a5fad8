"""Herd simulator: farms, cows, bolus and climate readings with ground truth (no Dagster).

``simulate(SimConfig(...))`` returns a ``SimulatedHerd``; ``loader.write_herd`` and
``loader.write_readings`` put it into the herd DB and a sensor store; ``live.live_step``
appends the next 10 minutes. See DOMAIN.md for the figures the signals follow.
"""

from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.simulation import SimulatedHerd, bolus_readings, climate_readings, simulate

__all__ = ["SimConfig", "SimulatedHerd", "simulate", "bolus_readings", "climate_readings"]
