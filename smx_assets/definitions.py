"""The code location: one ``Definitions`` assembled from the domain folders under ``defs/``."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs import features, ingest, monitoring, ops_health, scoring, simulation, training
from smx_assets.domain.heap import freeze_loaded_heap
from smx_assets.resources import default_resources

defs = dg.Definitions.merge(
    ingest.defs,
    features.defs,
    ops_health.defs,
    simulation.defs,
    training.defs,
    scoring.defs,
    monitoring.defs,
    dg.Definitions(resources=default_resources()),
)

# Everything loaded so far lives as long as the process: keep the garbage collector off it
# (see domain/heap.py; 0.2-0.3 s of every ten-minute run at 1,000 animals).
freeze_loaded_heap()
