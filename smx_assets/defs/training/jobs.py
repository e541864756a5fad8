"""Training job and the rollback launchpad job (the weekly schedule is in ``schedules.py``)."""


import dagster as dg

from smx_assets.domain.model_registry import promotion
from smx_assets.domain.use_cases.base import model_name_for
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets.resources import MlflowResource

# In-process: the steps share one MLflow sqlite store (parallel writers lock it) and the
# multiprocess executor would cost ~3.5 s per step on a 2-core box for no gain.
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("training"),  # every <uc>_model and <uc>_promotion
    executor_def=dg.in_process_executor,
    tags={"smx/run_kind": "training"},
    description="Train every use case (new challenger versions) and run their promotions.",
)

class RollbackConfig(dg.Config):
    use_case: str
    to_version: int = 0  # 0: the previous champion in the promotion history


@dg.op(description="Point a use case's 'champion' alias back (model_registry.rollback).")
def rollback_champion(context: dg.OpExecutionContext, config: RollbackConfig, mlflow: MlflowResource) -> None:
    uc = use_case(config.use_case)  # fails early on a typo
    result = promotion.rollback(model_name_for(uc.name), config.to_version or None, client=mlflow.client())
    context.log.info("%s champion: v%s -> v%s", result.name, result.old_version, result.new_version)
    context.log_event(dg.AssetObservation(asset_key=f"{uc.name}_promotion", metadata={
        "rollback": f"v{result.old_version} -> v{result.new_version}", "model": result.name,
        "old_version": str(result.old_version), "new_version": result.new_version}))


@dg.job(executor_def=dg.in_process_executor, tags={"smx/run_kind": "rollback"},
        description="Roll a champion back: launchpad config ops.rollback_champion.config {use_case, to_version}.")
def rollback_job() -> None:
    rollback_champion()
