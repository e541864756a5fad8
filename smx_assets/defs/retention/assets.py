"""``storage_retention``: once a day, remove what is older than each store's retention period.

A thin shell around :func:`smx_assets.domain.retention.enforce_retention`: periods from the
settings (``SMX_RETENTION_*``), the stores from the resources; the metadata says what was removed
(score days removed and compacted, lineage rows, feature days and files, sensor-store readings or the
InfluxDB retention policy in force) and what was kept apart (alert vectors).
"""

import dagster as dg

from smx_assets import settings
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.retention import RetentionPolicy, enforce_retention
from smx_assets.resources import FeatureStoreResource, HerdDbResource, SensorStoreResource

GROUP = "ops_health"


@dg.asset(group_name=GROUP, kinds={"python", "sqlalchemy"}, owners=["team:platform"],
          description="Daily retention: scores (and their lineage rows), stored feature vectors and raw "
                      "readings older than SMX_RETENTION_* days are removed (alerts and their lineage are "
                      "kept); earlier days of the score store are compacted into one sorted file each.")
def storage_retention(
    context: dg.AssetExecutionContext,
    herd_db: HerdDbResource,
    sensor_store: SensorStoreResource,
    feature_store: FeatureStoreResource,
) -> dg.MaterializeResult:
    r = settings.current().retention
    policy = RetentionPolicy(readings_days=r.readings_days, features_days=r.features_days,
                             predictions_days=r.predictions_days)
    report = enforce_retention(engine=herd_db.engine(), store=sensor_store.open(),
                               files=FeatureFiles(feature_store.base_path), policy=policy)
    meta = report.metadata()
    context.log.info("retention removed %s", meta)
    return dg.MaterializeResult(metadata={
        **meta,
        "retention_days": {"readings": r.readings_days, "scored_features": r.features_days,
                           "scores": r.predictions_days, "alerts": "kept"},
    })
