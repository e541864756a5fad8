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
from smx_assets.defs.partitions import partitioned_asset, per_partition_metadata, ten_minute_partitions
from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.heap import frozen_heap, peak_rss_mb
from smx_assets.domain.model_registry import model_cache, pins
from smx_assets.domain.model_registry.links import markdown_link, model_version_url, run_url
from smx_assets.domain.monitoring.queries import alerts_per_bucket
from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, prefetch_bucket_window, score_window
from smx_assets.domain.scoring.reads import read_metadata, snapshot_reads
from smx_assets.domain.scoring.shards import WHOLE_FLEET, Shard
from smx_assets.domain.time_grid import BUCKET, partition_key, range_label
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource

GROUP = "scoring"
OWNERS = ["team:ml-platform"]


class ScoringConfig(dg.Config):
    """Run configuration of ``scores``."""

    write_alerts: bool = True  # False: a retro-scoring "what would it have alerted" dry run
    use_cases: list[str] = []  # empty: every registered use case
    # Sharded scoring (SMX_SCORING_SHARDS > 1: the sensor sets both): score only the animals of
    # the farms with crc32(farm_id) % shards == shard. -1: the whole fleet. The count is part of
    # the run config (not read from the environment) so a run says which split it scored.
    shard: int = -1
    shards: int = 1


def _sensor_pins(context: dg.AssetExecutionContext) -> pins.Pins | None:
    """The versions the scoring sensor resolved for this run (its ``smx/models`` tag), if any;
    a run without them (UI, backfill) or with an unreadable tag resolves its own aliases."""
    try:
        found = pins.from_tag(context.run.tags.get(pins.TAG))
    except ValueError as exc:
        context.log.warning("%s: resolving the aliases in this run instead", exc)
        return None
    return found  # named in the run's one "models loaded" line


@partitioned_asset(
    ten_minute_partitions, group_name=GROUP, owners=OWNERS,
    kinds={"python", "mlflow", "sqlalchemy"},
    # The promotions are upstream: they decide which model scores (sensor data -> features ->
    # models -> promotions -> scores in the lineage). Plain deps on unpartitioned assets: the
    # scoring job selects only `scores`, so a bucket run never re-runs training or promotion.
    deps=["bolus_readings", "climate_readings", "herd_records", "sensor_baselines",
          *(f"{uc.name}_promotion" for uc in all_use_cases())],
    description=(
        "Scores of every animal in each 10-minute bucket by each use case's champion (alerts) and "
        "challenger (shadow). Writes the score store (Parquet, one file per bucket and shard, replaced "
        "per bucket), one `scoring_lineage` row per use case and model role (model name/version, "
        "MLflow run id, code version, partition, Dagster run, feature reference) and `alerts` (one per "
        "episode, never duplicated, each with its full lineage and feature vector)."
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
    partition_label = range_label(keys[0], keys[-1])  # fits the herd DB's partition_key column
    try:
        shard = WHOLE_FLEET if config.shard == -1 else Shard(config.shard, config.shards)
    except ValueError as exc:
        raise dg.Failure(f"bad shard config (shard={config.shard}, shards={config.shards}): {exc}") from None
    context.log.info("scoring %d bucket(s) %s .. %s%s", len(keys), start, end,
                     "" if shard.whole else f", {shard.label}")

    store = sensor_store.open()
    reads = snapshot_reads(store, start, end)  # what this run reads, before it reads (late data exactly once)
    # the read cache fetches the new bucket while the models and herd records load
    with prefetch_bucket_window(store, start, end):
        t0, import_before = time.perf_counter(), model_cache.IMPORT_SECONDS
        # the resource's store, not whatever the environment names; opened only if needed
        client = mlflow.lazy_client()
        use_cases = all_use_cases()
        if config.use_cases:
            use_cases = [uc for uc in use_cases if uc.name in set(config.use_cases)]
        pinned = _sensor_pins(context)
        model_sets = load_model_sets(use_cases, client=client, cache_dir=settings.current().model_cache_dir,
                                     pins=pinned)
        load_seconds = time.perf_counter() - t0
        # One log line for all models (each log line is a stored event: ~10 ms apiece on SQLite).
        lines = []
        for name, ms in model_sets.items():
            shadow = f", shadow {ms.challenger.name} v{ms.challenger.version}" if ms.challenger else ""
            role = "NO champion registered, rule baseline" if ms.fallback else "champion"
            lines.append(f"{name}: {role} {ms.champion.name} v{ms.champion.version}{shadow}")
        log = context.log.warning if any(ms.fallback for ms in model_sets.values()) else context.log.info
        loaded = [m for ms in model_sets.values() for m in (ms.champion, ms.challenger) if m is not None]
        origins = {o: sum(m.origin == o for m in loaded) for o in ("mlflow", "disk", "memory")}
        resolved_by = "the scoring sensor (smx/models tag)" if pinned else "this run"
        log("models loaded in %.2f s (%d downloaded from MLflow, %d from the local cache, %d already in memory; "
            "versions resolved by %s%s): %s",
            load_seconds, origins["mlflow"], origins["disk"], origins["memory"], resolved_by,
            "" if client.created else ", registry not opened", "; ".join(lines))

        engine = herd_db.engine()
        t0 = time.perf_counter()
        records = load_herd_records(engine)
        records_seconds = time.perf_counter() - t0
        result = score_window(
            engine=engine,
            store=store,
            files=FeatureFiles(feature_store.base_path),
            records=records,
            model_sets=model_sets,
            start=start,
            end=end,
            lineage=ScoringLineage(settings.code_version(), partition_label, context.run_id),
            write_alerts=config.write_alerts,
            chunk_cells=settings.current().scoring.chunk_cells,
            shard=shard,
            processes=settings.current().scoring.processes,
        )
    stages = {"load_models": round(load_seconds, 3),
              # of it, importing scikit-learn for the cached ML models (a fresh process's floor)
              "load_models_import_sklearn": round(model_cache.IMPORT_SECONDS - import_before, 3),
              "load_records": round(records_seconds, 3),
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
        "score_bytes_written": result.score_bytes_written,
        "lineage_ids": result.lineage_ids,
        "alerts_new_total": total_alerts,
        "feature_missing_share": round(result.feature_missing_share, 4),
        "run_seconds": round(time.perf_counter() - t_run, 3),
        "stage_seconds": stages,
        "models": result.models,
        "models_loaded_from": origins,  # mlflow: downloaded this run; disk: the local model cache
        "models_resolved_by": "sensor" if pinned else "run",
        "model_links": dg.MetadataValue.md(_models_markdown(model_sets)),
        "code_version": settings.code_version(),
        "rule_fallback_use_cases": ", ".join(result.fallback_use_cases) or "none",
        "skipped_use_cases": result.skipped_use_cases or "none",
    }
    if not shard.whole:
        metadata["shard"] = f"{shard.index} of {shard.count}"
    rss = peak_rss_mb()
    if rss is not None:
        metadata["peak_rss_mb"] = rss
    if result.worker_peak_rss_mb:  # the forked feature worker's own peak (its pages shared with the run's at fork)
        metadata["feature_worker_peak_rss_mb"] = result.worker_peak_rss_mb
        metadata["feature_worker_chunks"] = result.feature_worker_chunks
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
    # A partition's page lists its own bucket's figures first (status, readings, scores, the
    # bucket's alerts), then the run's. Dagster puts a result's metadata before a partition's,
    # so a range run gives every partition the whole list itself and the result none. Each
    # bucket also records what this run read of it (late data exactly once, see sensors.py).
    per_key = _bucket_metadata(engine, result, context.run_id)
    for b, r in reads.items():
        per_key.setdefault(partition_key(b), {}).update(read_metadata(r))
    if len(keys) == 1:
        own = per_key.get(keys[0], {})
        return dg.MaterializeResult(metadata={**own, **{k: v for k, v in metadata.items() if k not in own}})
    # A range run: each bucket's page shows its own figures; the run's totals are run_*.
    metadata = {("run_" + k if k in _PER_BUCKET or k.startswith("alerts_new_") else k): v
                for k, v in metadata.items()}
    metadata["run_partition_range"] = f"{keys[0]}..{keys[-1]}"
    per_partition_metadata(context, {key: {**own, **metadata} for key, own in per_key.items()})
    return dg.MaterializeResult()


def _models_markdown(model_sets) -> str:  # type: ignore[no-untyped-def]
    """Which versions scored, linked to the MLflow UI (version page and training run)."""
    base = settings.current().mlflow_ui_url
    rows = ["| use case | role | model version | MLflow run |", "|---|---|---|---|"]
    for name, ms in model_sets.items():
        for role, m in (("champion" if not ms.fallback else "rule baseline (no champion)", ms.champion),
                        ("challenger (shadow)", ms.challenger)):
            if m is None:
                continue
            version = markdown_link(f"{m.name} v{m.version}", model_version_url(base, m.name, m.version))
            run = markdown_link(m.run_id[:8], run_url(base, m.run_id)) if m.run_id else "none"
            rows.append(f"| {name} | {role} | {version} | {run} |")
    return "\n".join(rows)


# Figures that differ per bucket: in a range run they are given per partition (run_* are totals).
_PER_BUCKET = {"buckets_scored", "predictions_written", "alerts_new_total", "animals_scored",
               "buckets_without_readings", "readings_in_window", "no_readings", "feature_missing_share",
               "max_alert_lag_minutes", "stage_seconds", "alerts_dry_run_candidates"}


NO_READINGS = "no readings: not scored"


def _bucket_metadata(engine, result, run_id: str | None) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    """Each bucket's own figures, first on its partition page: whether it was scored (a bucket
    without readings says so first, not as a run with 0 predictions), what the run read and
    wrote for it, and the bucket's alerts whichever run raised them (a re-score raises none
    anew: ``alerts`` still counts the one an earlier run raised; ``alerts_new_*`` are this
    run's). The alerts come from two GROUP BYs over the window (all runs, this run)."""
    in_bucket = alerts_per_bucket(engine, result.window_start, result.window_end)
    by_run = alerts_per_bucket(engine, result.window_start, result.window_end, run_id) if run_id else {}
    empty = set(result.buckets_without_readings)
    use_cases = list(result.alerts_new) or [uc.name for uc in all_use_cases()]
    per_key: dict[str, dict[str, object]] = {}
    for bucket in pd.date_range(result.window_start, result.window_end, freq=BUCKET, inclusive="left"):
        row = result.per_bucket.get(bucket, {"scores": 0, "animals": 0})
        span = f"{bucket:%Y-%m-%d %H:%M}..{bucket + BUCKET:%H:%M} UTC"
        md: dict[str, object] = {"status": NO_READINGS if bucket in empty else "scored"}
        if bucket in empty:
            md["no_readings"] = (f"bucket {span} was without readings when this run read it: nothing was "
                                 "scored and no alert can come from it; readings delivered later re-score it")
        alerts = in_bucket.get(bucket, {})
        new = by_run.get(bucket, {})
        md.update({
            "bucket": span,
            "readings_in_window": int(row.get("readings", 0)),
            "animals_scored": int(row["animals"]),
            "predictions_written": int(row["scores"]),
            "alerts": sum(alerts.values()),
            **{f"alerts_{uc}": int(alerts.get(uc, 0)) for uc in use_cases},
            "alerts_new_total": sum(new.values()),
            **{f"alerts_new_{uc}": int(new.get(uc, 0)) for uc in use_cases},
            "buckets_scored": 0 if bucket in empty else 1,
            "buckets_without_readings": 1 if bucket in empty else 0,
        })
        per_key[partition_key(bucket)] = md
    return per_key
