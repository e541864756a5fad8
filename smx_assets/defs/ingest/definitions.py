from __future__ import annotations

import dagster as dg

from smx_assets.defs.ingest.sources import SOURCE_SPECS

defs = dg.Definitions(assets=SOURCE_SPECS)
