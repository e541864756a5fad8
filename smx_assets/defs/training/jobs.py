"""Training job, weekly retraining schedule, and the rollback launchpad job."""


import os

import dagster as dg

from smx_assets.defs.training.assets import MODEL_ASSETS, PROMOTION_ASSETS
from smx_assets.domain import model_registry as reg
from smx_assets.domain.use_cases.base import model_name_for
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets.resources import MlflowResource

# In-process: the steps share one MLflow sqlite store (parallel writers lock it) and the
# multiprocess executor would cost ~3.5 s per step on a 2-core box for no gain.
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS, *PROMOTION_ASSETS),
    executor_def=dg.in_process_executor,
    tags={"smx/run_kind": "training"},
    description="Train every use case (new challenger versions) and run their promotions.",
)

# STOPPED by default: a fresh clone or `dagster dev` has no training_features history, so a
# running schedule would fail every week until someone backfills; and a demo should not
# retrain behind its user's back. Production switches it on in the UI, or with
# SMX_TRAINING_SCHEDULE=running (the state then survives restarts in the instance).
weekly_training_schedule = dg.ScheduleDefinition(
    name="weekly_training_schedule",
    job=training_job,
    cron_schedule="0 3 * * 1",  # Monday 03:00 UTC, after the daily features of Sunday
    execution_timezone="UTC",
    default_status=(dg.DefaultScheduleStatus.RUNNING if os.environ.get("SMX_TRAINING_SCHEDULE") == "running"
                    else dg.DefaultScheduleStatus.STOPPED),
    description="Weekly retraining and promotion of every use case.",
)


class RollbackConfig(dg.Config):
    use_case: str
    to_version: int = 0  # 0: the previous champion in the promotion history


@dg.op(description="Point a use case's 'champion' alias back (model_registry.rollback).")
def rollback_champion(context: dg.OpExecutionContext, config: RollbackConfig, mlflow: MlflowResource) -> None:
    uc = use_case(config.use_case)  # fails early on a typo
    mlflow.configure()
    result = reg.rollback(model_name_for(uc.name), config.to_version or None, client=reg.configure(mlflow.tracking_uri))
    context.log.info("%s champion: v%s -> v%s", result.name, result.old_version, result.new_version)
    context.log_event(dg.AssetObservation(asset_key=f"{uc.name}_promotion", metadata={
        "rollback": f"v{result.old_version} -> v{result.new_version}", "model": result.name,
        "old_version": str(result.old_version), "new_version": result.new_version}))


@dg.job(executor_def=dg.in_process_executor, tags={"smx/run_kind": "rollback"},
        description="Roll a champion back: launchpad config ops.rollback_champion.config {use_case, to_version}.")
def rollback_job() -> None:
    rollback_champion()
