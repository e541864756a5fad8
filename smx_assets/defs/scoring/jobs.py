"""The scoring job: in-process executor, one run per bucket (or one per backfilled range)."""

from __future__ import annotations

import dagster as dg

from smx_assets.defs.scoring.assets import scores

scoring_job = dg.define_asset_job(
    "scoring_job",
    selection=[scores],
    executor_def=dg.in_process_executor,
    tags={"smx/run_kind": "scoring", "dagster/max_runtime": "540"},  # run monitoring fails a bucket stuck > 9 min
    description="Score one ten-minute bucket (or a backfilled range in one run) with every use case.",
)
