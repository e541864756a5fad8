"""The retraining sensor: failed drift or performance checks launch retraining, rate-limited.

The decision is ``smx_assets.domain.monitoring.retraining.plan_retraining``; this shell reads the
instance (latest check evaluations, materialised ``training_features`` days, the pending
backfill run's status) and turns the plan into run requests.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from smx_assets import settings
from smx_assets.defs.monitoring.jobs import retraining_features_job, retraining_job
from smx_assets.domain.monitoring.retraining import (
    CheckEvaluation,
    RetrainingCursor,
    RetrainingPolicy,
    missing_days,
    plan_retraining,
)
from smx_assets.settings import RetrainingSettings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
WATCHED = [dg.AssetCheckKey(dg.AssetKey("drift_report"), "drift_share"),
           dg.AssetCheckKey(dg.AssetKey("model_performance"), "performance_vs_training")]


def retraining_policy(s: RetrainingSettings) -> RetrainingPolicy:
    """The planner's policy from the checked settings (``SMX_RETRAIN_*``)."""
    return RetrainingPolicy(min_interval=pd.Timedelta(hours=s.min_interval_hours), training_days=s.training_days)


def utc_now() -> pd.Timestamp:
    """The sensor's clock (tests replace it)."""
    return pd.Timestamp.now(tz="UTC")


def _evaluations(instance: dg.DagsterInstance, limit: int = 20) -> list[CheckEvaluation]:
    out: list[CheckEvaluation] = []
    done = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    for key in WATCHED:
        for rec in instance.event_log_storage.get_asset_check_execution_history(key, limit=limit, status=done):
            data = rec.event.dagster_event.event_specific_data if rec.event and rec.event.dagster_event else None
            if data is None:
                continue
            out.append(CheckEvaluation(check=key.to_user_string(), storage_id=rec.id, passed=bool(data.passed),
                                       severity=data.severity.value, run_id=rec.run_id))
    return out


def _materialized_days(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey("training_features")))


@dg.sensor(
    jobs=[retraining_features_job, retraining_job],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="On a failed (ERROR) drift_share or performance_vs_training check: backfill missing "
                "training_features days of the training window, then retrain and promote; at most once per "
                "SMX_RETRAIN_MIN_INTERVAL_HOURS (default 24).",
)
def retraining_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    policy = retraining_policy(settings.current().retraining)
    cursor = RetrainingCursor.from_json(context.cursor)
    instance = context.instance
    pending_status = None
    if cursor.pending_backfill_run_id:
        run = instance.get_run_by_id(cursor.pending_backfill_run_id)
        pending_status = run.status.value if run is not None else None
    now = utc_now()
    missing = missing_days(_materialized_days(instance), now, policy)
    plan = plan_retraining(cursor, now, _evaluations(instance), missing, policy, pending_status)
    for note in plan.notes:
        context.log.info(note)
    requests: list[dg.RunRequest] = []
    if plan.backfill_days:
        first, last = plan.backfill_days[0].strftime("%Y-%m-%d"), plan.backfill_days[-1].strftime("%Y-%m-%d")
        run_key = f"retrain-backfill-{plan.trigger_id}"
        requests.append(dg.RunRequest(run_key=run_key, job_name=retraining_features_job.name,
                                      tags={RANGE_START: first, RANGE_END: last, "smx/retrain_reason": plan.reason[:200]}))
        context.log.info("%s: backfilling training_features %s..%s (%d missing days) before retraining",
                         plan.reason, first, last, len(plan.backfill_days))
    if plan.train:
        requests.append(dg.RunRequest(run_key=f"retrain-{plan.trigger_id}", job_name=retraining_job.name,
                                      tags={"smx/retrain_reason": plan.reason[:200]}))
        context.log.info("%s: launching retraining", plan.reason)
    return dg.SensorResult(run_requests=requests, cursor=plan.cursor.to_json())
