"""``scores``: ten-minute partitions scored by champion and shadow models.

One asset, two ways to run it:

* a normal run scores one bucket (the sensor launches one per completed bucket, and again when
  late readings change a bucket);
* a backfill over a range is a single vectorised run (``BackfillPolicy.single_run``): history,
  or what a new champion would have alerted last week, with the same results as bucket-by-bucket
  runs.

It runs with the in-process executor (see ``jobs.py``): a 10-minute cadence cannot afford a
Python process per step. Models are loaded once per run and no MLflow run is opened.
"""


import time

import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.defs.partitions import partitioned_asset, ten_minute_partitions
from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.heap import frozen_heap
from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, score_window
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource

GROUP = "scoring"
OWNERS = ["team:ml-platform"]


class ScoringConfig(dg.Config):
    """Run configuration of ``scores``."""

    write_alerts: bool = True  # False: a retro-scoring "what would it have alerted" dry run
    use_cases: list[str] = []  # empty: every registered use case


@partitioned_asset(
    ten_minute_partitions, group_name=GROUP, owners=OWNERS,
    kinds={"python", "mlflow", "sqlalchemy"},
    deps=["bolus_readings", "climate_readings", "herd_records", "sensor_baselines"],
    description=(
        "Scores of every animal in each 10-minute bucket by each use case's champion (alerts) and "
        "challenger (shadow). Writes the herd DB's `predictions` (replaced per bucket) and `alerts` "
        "(one per episode, never duplicated), each row with model name/version, MLflow run id, code "
        "version, partition key and a reference to the stored feature vector."
    ),
)
@frozen_heap()  # the run's many short-lived objects must not make GC rescan Dagster's heap
def scores(
    context: dg.AssetExecutionContext,
    config: ScoringConfig,
    herd_db: HerdDbResource,
    sensor_store: SensorStoreResource,
    feature_store: FeatureStoreResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    t_run = time.perf_counter()
    window = context.partition_time_window
    start, end = pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")
    keys = context.partition_keys
    partition_label = keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
    context.log.info("scoring %d bucket(s) %s .. %s", len(keys), start, end)

    t0 = time.perf_counter()
    client = mlflow.client()  # the resource's store, not whatever the environment names
    use_cases = all_use_cases()
    if config.use_cases:
        use_cases = [uc for uc in use_cases if uc.name in set(config.use_cases)]
    model_sets = load_model_sets(use_cases, client=client)
    load_seconds = time.perf_counter() - t0
    # One log line for all models (each log line is a stored event: ~10 ms apiece on SQLite).
    lines = []
    for name, ms in model_sets.items():
        shadow = f", shadow {ms.challenger.name} v{ms.challenger.version}" if ms.challenger else ""
        role = "NO champion registered, rule baseline" if ms.fallback else "champion"
        lines.append(f"{name}: {role} {ms.champion.name} v{ms.champion.version}{shadow}")
    log = context.log.warning if any(ms.fallback for ms in model_sets.values()) else context.log.info
    log("models loaded in %.2f s: %s", load_seconds, "; ".join(lines))

    engine = herd_db.engine()
    t0 = time.perf_counter()
    records = load_herd_records(engine)
    records_seconds = time.perf_counter() - t0
    result = score_window(
        engine=engine,
        store=sensor_store.open(),
        files=FeatureFiles(feature_store.base_path),
        records=records,
        model_sets=model_sets,
        start=start,
        end=end,
        lineage=ScoringLineage(settings.code_version(), partition_label, context.run_id),
        write_alerts=config.write_alerts,
        chunk_cells=settings.current().scoring.chunk_cells,
    )
    stages = {"load_models": round(load_seconds, 3), "load_records": round(records_seconds, 3),
              **result.stage_seconds}
    total_alerts = sum(result.alerts_new.values())
    context.log.info(
        "scored %d animals x %d buckets: %d predictions, %d new alerts %s; stages %s",
        result.n_animals, result.n_buckets, result.n_predictions, total_alerts, result.alerts_new, stages,
    )
    metadata: dict[str, object] = {
        "animals_scored": result.n_animals,
        "buckets_scored": result.n_buckets,
        "readings_in_window": result.n_readings,
        "buckets_without_readings": len(result.buckets_without_readings),
        "predictions_written": result.n_predictions,
        "alerts_new_total": total_alerts,
        "feature_missing_share": round(result.feature_missing_share, 4),
        "run_seconds": round(time.perf_counter() - t_run, 3),
        "stage_seconds": stages,
        "models": result.models,
        "code_version": settings.code_version(),
        "rule_fallback_use_cases": ", ".join(result.fallback_use_cases) or "none",
        "skipped_use_cases": result.skipped_use_cases or "none",
    }
    if result.buckets_without_readings:
        empty = result.buckets_without_readings
        metadata["no_readings"] = (f"{len(empty)} bucket(s) without readings, not scored: "
                                   f"{empty[0]:%Y-%m-%d %H:%M}" + (f" .. {empty[-1]:%Y-%m-%d %H:%M}" if len(empty) > 1 else ""))
        context.log.info("%s", metadata["no_readings"])
    for name, n in result.alerts_new.items():
        metadata[f"alerts_new_{name}"] = n
    if result.max_alert_lag_minutes is not None:
        metadata["max_alert_lag_minutes"] = round(result.max_alert_lag_minutes, 2)
    if not config.write_alerts:
        metadata["alerts_dry_run_candidates"] = result.alerts_candidates
    return dg.MaterializeResult(metadata=metadata)
