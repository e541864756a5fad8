"""``import_job``: the importer of ``smx import`` as a job a data engineer launches from the UI.

Launchpad config ``ops.import_exports.config``: ``paths`` (files or folders readable by the
run's process), ``farm`` (empty: each file's folder name), ``timezone`` (of naive times, default
UTC). The same ``import_paths`` as the CLI (readings older than ``SMX_RETENTION_READINGS_DAYS``
are rejected as ``beyond_retention``, with a warning in the log and the metadata); the per-file
report becomes the run's metadata, and the run fails (after importing every usable file) when a file could not be imported.
"""

# no `from __future__ import annotations`: Dagster reads the Config class from the annotation

import dagster as dg

from smx_assets import settings
from smx_assets.domain.importers import import_paths
from smx_assets.resources import HerdDbResource, SensorStoreResource


class ImportConfig(dg.Config):
    paths: list[str]
    farm: str = ""
    timezone: str = "UTC"


@dg.op(description="Import sensor exports (SCR Heatime xlsx/xls, open CSV/Parquet) into the herd DB and sensor store.")
def import_exports(context: dg.OpExecutionContext, config: ImportConfig, herd_db: HerdDbResource,
                   sensor_store: SensorStoreResource) -> dg.Output[dict]:
    report = import_paths(config.paths, config.farm or None, config.timezone, store=sensor_store.open(),
                          engine=herd_db.engine(), progress=context.log.info,
                          readings_retention_days=settings.current().retention.readings_days)
    for warning in report.warnings():
        context.log.warning(warning)
    metadata: dict[str, dg.RawMetadataValue] = {
        "rows_read": report.rows_read, "rows_written": report.rows_written,
        "rows_rejected": report.rows_rejected,
        "rejected_by_reason": dg.MetadataValue.json(report.rejected_by_reason()),
        "warnings": dg.MetadataValue.md("\n".join(f"* {w}" for w in report.warnings()) or "(none)"),
        "files": dg.MetadataValue.md("\n".join(f"* {f.line()}" for f in report.files) or "(no files)"),
    }
    if not report.ok:
        failed = [f.line() for f in report.files if f.status == "failed"]
        raise dg.Failure(description="; ".join(failed), metadata=metadata)
    return dg.Output(report.to_dict(), metadata=metadata)


@dg.job(executor_def=dg.in_process_executor, tags={"smx/run_kind": "import"},
        description="Import export files: launchpad config ops.import_exports.config {paths, farm, timezone}.")
def import_job() -> None:
    import_exports()
