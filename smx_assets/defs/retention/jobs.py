"""``storage_retention_job``: the retention asset alone, in one process."""

import dagster as dg

from smx_assets.defs.retention.assets import storage_retention

storage_retention_job = dg.define_asset_job(
    "storage_retention_job",
    selection=[storage_retention],
    executor_def=dg.in_process_executor,
    tags={"smx/run_kind": "housekeeping"},
    description="Enforce the SMX_RETENTION_* periods on the herd DB, feature files and sensor store.",
)
