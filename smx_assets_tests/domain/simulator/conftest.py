"""Simulated herds shared by the simulator tests (module-scoped: simulating costs ~1 s each)."""

from __future__ import annotations

import datetime as dt

import pytest

from smx_assets.domain.simulator import SimConfig, SimulatedHerd, simulate

# Clean signals for the physiology statistics: no artefacts, no settling boluses.
STATS_CONFIG = SimConfig(n_animals=200, days=40, seed=11, start=dt.date(2024, 3, 1), artefacts=False,
                         new_bolus_share=0.0)
RAW_CONFIG = SimConfig(n_animals=60, days=40, seed=5, start=dt.date(2024, 6, 1))


@pytest.fixture(scope="session")
def stats_herd() -> SimulatedHerd:
    return simulate(STATS_CONFIG)


@pytest.fixture(scope="session")
def raw_herd() -> SimulatedHerd:
    return simulate(RAW_CONFIG)
