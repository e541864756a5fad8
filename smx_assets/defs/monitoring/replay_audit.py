"""``replay_audit``: each day, the day's alerts and a random sample of its scores recomputed from
the raw readings, the recorded model version and farm records as known when they were scored
(``smx_assets.domain.replay``; the same as ``smx replay``).

Its check ``replay_identical`` FAILS (ERROR) on any difference and names the first differing
alert or score in its metadata, WARNs (not passed) when there was nothing to replay (no alert
and no stored score, or everything skipped: a deleted model version, readings no longer kept),
and passes when every replay agreed bit for bit. It is not watched by the retraining sensor: a
replay difference is a platform fault to look into, not a reason to retrain.
"""

import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.defs.partitions import daily_partitions, partition_days, partitioned_asset, per_partition_metadata
from smx_assets.domain.features.profile import active_animals
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.replay import Replayer, ReplaySummary, alert_ids_between, readings_kept_from, replay_all, sample_scores
from smx_assets.domain.score_store import ScoreFiles, ScoreStore
from smx_assets.domain.time_grid import day_key
from smx_assets.resources import FeatureStoreResource, HerdDbResource, MlflowResource, SensorStoreResource

DAY = pd.Timedelta(days=1)
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


class ReplayAuditConfig(dg.Config):
    """How much of a day is replayed."""

    max_alerts: int = 200  # the day's alerts, all of them up to this many (a random subset beyond)
    sample_scores: int = 20  # stored scores of the day drawn at random (champion and shadow)


def _day_targets(replayer: Replayer, day: pd.Timestamp, config: ReplayAuditConfig) -> list[Any]:
    ids = alert_ids_between(replayer.engine, day, day + DAY)
    if len(ids) > config.max_alerts:
        rng = pd.Series(ids).sample(n=config.max_alerts, random_state=int(day.timestamp()) % 2**31)
        ids = sorted(int(i) for i in rng)
    seed = int(day.timestamp()) % 2**31  # the same day replays the same sample
    herd = active_animals(replayer.records(), day, day + DAY)
    return [*ids, *sample_scores(replayer.scores, day, day + DAY, config.sample_scores, seed=seed, animal_pool=herd)]


def _day_metadata(summary: ReplaySummary, n_alerts: int, seconds: float) -> dict[str, Any]:
    first = summary.first_difference()
    return {
        "replayed": len(summary.reports), "identical": summary.identical, "different": len(summary.different),
        "skipped": len(summary.skipped), "alerts_replayed": sum(r.target.kind == "alert" for r in summary.reports),
        "alerts_of_the_day": n_alerts, "scores_replayed": sum(r.target.kind == "score" for r in summary.reports),
        "summary": summary.line(), "first_difference": first or "none",
        "skip_reasons": dg.MetadataValue.json(summary.skip_reasons or {}),
        "seconds": dg.MetadataValue.float(round(seconds, 2)),
    }


@partitioned_asset(
    daily_partitions, group_name="monitoring", owners=["team:ml-platform"],
    deps=["scores"],
    kinds={"mlflow", "sqlalchemy"},
    check_specs=[dg.AssetCheckSpec(
        "replay_identical", asset="replay_audit",
        description="Every replayed alert and sampled score of the day recomputes bit for bit (features, score, "
                    "the alert raised again). ERROR on any difference, naming the first; WARN when there was "
                    "nothing to replay.")],
    description=(
        "The day's alerts (up to `max_alerts`) and `sample_scores` stored scores drawn at random, each "
        "recomputed from the raw readings received by its scoring run's scored_at (later ones left out and "
        "counted), the farm records known then and the exact model version it names (models:/NAME/VERSION), "
        "and compared with what was stored: features bit for bit, score exactly, the alert policy raising the "
        "alert again. The same replay as `smx replay ALERT_ID` / `smx replay --from --to`."
    ),
)
def replay_audit(context: dg.AssetExecutionContext, config: ReplayAuditConfig, herd_db: HerdDbResource,
                 sensor_store: SensorStoreResource, feature_store: FeatureStoreResource, mlflow: MlflowResource
                 ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    engine = herd_db.engine()
    s = settings.current()
    replayer = Replayer(engine=engine, store=sensor_store.open(), files=FeatureFiles(feature_store.base_path),
                        scores=ScoreStore(engine, ScoreFiles(feature_store.base_path)), client=mlflow.client(),
                        running_code_version=settings.code_version(),
                        readings_kept_from=readings_kept_from(pd.Timestamp.now(tz="UTC"), s.retention.readings_days))
    per_key: dict[str, dict[str, Any]] = {}
    lines: dict[str, str] = {}
    first: str | None = None
    total = ReplaySummary()
    for day in partition_days(context):
        t0 = time.perf_counter()
        targets = _day_targets(replayer, day, config)
        summary = replay_all(replayer, targets)
        n_alerts = sum(isinstance(t, int) for t in targets)
        per_key[day_key(day)] = _day_metadata(summary, n_alerts, time.perf_counter() - t0)
        lines[day_key(day)] = summary.line()
        first = first or (f"{day_key(day)}: {summary.first_difference()}" if summary.different else None)
        total.reports += summary.reports
        total.skipped += summary.skipped
        context.log.info("replay_audit %s: %s", day_key(day), summary.line())
    per_partition_metadata(context, per_key)
    yield dg.MaterializeResult(metadata={"run_per_day": dg.MetadataValue.json(lines), "run_summary": total.line()})
    if total.different:
        description = f"{len(total.different)} replay(s) differ; first: {first}"
    elif not total.reports:
        description = ("nothing replayed: " + ("; ".join(f"{w}: {y}" for w, y in total.skipped[:3]) if total.skipped
                       else "no alert and no stored score on " + ", ".join(lines)))
    else:
        description = f"every replay identical: {total.line()}"
    yield dg.AssetCheckResult(
        check_name="replay_identical", passed=not total.different and bool(total.reports),
        severity=ERROR if total.different else WARN, description=description,
        metadata={"first_difference": first or "none", "summary": total.line(), "per_day": dg.MetadataValue.json(lines),
                  "differences": dg.MetadataValue.json([r.as_dict() for r in total.different[:5]])})
