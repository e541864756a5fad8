"""The scoring job: in-process executor, one run per bucket (or one per backfilled range)."""


import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.model_registry import NoModelError
from smx_assets.domain.scoring.engine import load_model_sets
from smx_assets.domain.scoring.retro import RetroRangeError, plan_range, retro_score
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource

scoring_job = dg.define_asset_job(
    "scoring_job",
    selection=dg.AssetSelection.assets(scores).without_checks(),  # scores_freshness: its own sensor
    executor_def=dg.in_process_executor,
    tags={"smx/run_kind": "scoring", "dagster/max_runtime": "540"},  # run monitoring fails a bucket stuck > 9 min
    description="Score one ten-minute bucket (or a backfilled range in one run) with every use case.",
)

# ------------------------------------------------------------------------- retro-scoring


class RetroScoringConfig(dg.Config):
    """A day range to score, any dates (``smx score --from --to`` fills this in)."""

    first_day: str  # YYYY-MM-DD, UTC, inclusive
    last_day: str  # YYYY-MM-DD, UTC, inclusive
    write_alerts: bool = True  # False: a "what would it have alerted" dry run
    use_cases: list[str] = []  # empty: every registered use case
    recompute_baselines: bool = False  # True: recompute stored baselines (after re-imported readings)


@dg.op(
    description="Scores every closed bucket of a day range of any date (history older than the "
                "ten-minute partitions, imports of old data): baselines first, then one day at a "
                "time through the same score_window as the ten-minute runs.",
    tags={"smx/run_kind": "retro_scoring"},
)
def retro_score_range(
    context: dg.OpExecutionContext,
    config: RetroScoringConfig,
    herd_db: HerdDbResource,
    sensor_store: SensorStoreResource,
    feature_store: FeatureStoreResource,
    mlflow: MlflowResource,
) -> dg.Output[dict]:
    use_cases = all_use_cases()
    if config.use_cases:
        unknown = sorted(set(config.use_cases) - {uc.name for uc in use_cases})
        if unknown:
            raise dg.Failure(f"unknown use case(s) {', '.join(unknown)}: known are "
                             f"{', '.join(uc.name for uc in use_cases)}")
        use_cases = [uc for uc in use_cases if uc.name in set(config.use_cases)]
    try:
        plan_range(config.first_day, config.last_day, pd.Timestamp.now(tz="UTC"))
    except RetroRangeError as exc:
        raise dg.Failure(str(exc)) from None
    try:
        model_sets = load_model_sets(use_cases, client=mlflow.client(), cache_dir=settings.current().model_cache_dir)
    except NoModelError as exc:
        raise dg.Failure(f"{exc}: train and register models first (training_job)") from None
    engine = herd_db.engine()
    result = retro_score(
        engine=engine, store=sensor_store.open(), files=FeatureFiles(feature_store.base_path),
        records=load_herd_records(engine), model_sets=model_sets,
        first_day=config.first_day, last_day=config.last_day, code_version=settings.code_version(),
        run_id=context.run_id, write_alerts=config.write_alerts,
        recompute_baselines=config.recompute_baselines, progress=context.log.info,
        chunk_cells=settings.current().scoring.chunk_cells,
    )
    summary = {
        "first_day": str(result.first_day), "last_day": str(result.last_day),
        "scored_until": str(result.scored_until), "days_scored": len(result.days),
        "buckets_scored": result.n_buckets, "animals_scored": result.n_animals,
        "predictions_written": result.n_predictions, "alerts_new": result.alerts_new,
        "alerts_candidates": result.alerts_candidates,
        "baselines_computed_days": len(result.baselines_computed),
        "rule_fallback_use_cases": result.fallback_use_cases, "models": result.models,
        "write_alerts": config.write_alerts,
    }
    # Visible on the `scores` asset page next to the ten-minute partitions it lies outside of.
    context.log_event(dg.AssetObservation(asset_key="scores", metadata={
        "retro_range": f"{result.first_day}..{result.last_day}",
        "retro_predictions_written": result.n_predictions,
        "retro_alerts_new_total": sum(result.alerts_new.values()),
    }))
    return dg.Output(summary, metadata={k: v if not isinstance(v, list) else ", ".join(v) or "none"
                                        for k, v in summary.items()})


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"smx/run_kind": "retro_scoring"},
    description="Retro-scoring of any day range (`smx score --from --to`): one run, baselines first.",
)
def retro_scoring_job() -> None:
    retro_score_range()
