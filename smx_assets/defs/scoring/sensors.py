"""The scoring sensor: the newest bucket first, ranged catch-up behind it, late data exactly once.

All decisions are made by ``smx_assets.domain.scoring.planning.plan_scoring``; this shell reads
the clock, the store and the Dagster instance (scoring runs in flight, what finished runs read
per bucket), and turns the plan into run requests (with ``dagster/priority``) and an
observation of any skipped range (so a gap after long downtime is visible in the UI, never
silent).
"""


import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.defs.partitions import ten_minute_partitions
from smx_assets.defs.scoring.jobs import scoring_job
from smx_assets.domain.model_registry import pins
from smx_assets.domain.scoring.planning import (
    BucketRequest,
    RunState,
    ScoringCursor,
    ScoringPolicy,
    late_candidates,
    latest_due_bucket,
    plan_scoring,
    shard_requests,
)
from smx_assets.domain.scoring.reads import BucketRead, parse_read_metadata
from smx_assets.domain.time_grid import BUCKET, PARTITION_KEY_FORMAT, partition_key
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.resources import MlflowResource, SensorStoreResource
from smx_assets.settings import ScoringSettings

# Arrivals are looked up from a little before the last check: a delivery stamped just before a
# tick but committed just after it would otherwise fall between two checks. The fingerprints
# (reading count and last arrival per bucket) keep the overlap from re-scoring anything twice.
LATE_CHECK_OVERLAP = pd.Timedelta(minutes=10)


def scoring_policy(s: ScoringSettings) -> ScoringPolicy:
    """The planner's policy from the checked settings (``SMX_SCORING_*``)."""
    return ScoringPolicy(
        grace=pd.Timedelta(minutes=s.grace_minutes),
        max_new_per_tick=s.max_new_per_tick,
        max_catchup=pd.Timedelta(hours=s.max_catchup_hours),
        rescore_horizon=pd.Timedelta(hours=s.rescore_hours),
        max_rescores_per_tick=s.max_rescores_per_tick,
    )


RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def run_request(r: BucketRequest) -> dg.RunRequest:
    """The run request of one planned bucket or catch-up range (and shard).

    ``smx/scoring_key`` (``<partition>``, or ``<partition>/<shard>`` when sharded) is what the
    run queue limits to one run at a time (``tag_concurrency_limits`` in infra/dagster/dagster.yaml),
    so the shards of a bucket run in parallel while one shard of a bucket never runs twice at once.
    ``dagster/priority`` puts a new bucket ahead of queued catch-up runs; ``smx/reason`` =
    ``catch-up`` is limited to one run at a time by the queue, so new buckets always find a slot.
    A catch-up range is one run over the range (the asset's single-run backfill policy). A sharded
    run gets its shard in its run config too, so the run is self-describing."""
    key = partition_key(r.bucket_start)
    tags = {"smx/reason": r.reason, "dagster/priority": str(r.priority)}
    partition: str | None = key
    if r.bucket_last is not None:
        partition = None
        key = f"{key}..{partition_key(r.bucket_last)}"
        tags.update({RANGE_START: partition_key(r.bucket_start), RANGE_END: partition_key(r.bucket_last)})
    if r.shard is None:
        tags["smx/scoring_key"] = key
        return dg.RunRequest(run_key=r.run_key, partition_key=partition, tags=tags)
    tags.update({"smx/shard": str(r.shard), "smx/shards": str(r.shards), "smx/scoring_key": f"{key}/{r.shard}"})
    return dg.RunRequest(run_key=r.run_key, partition_key=partition, tags=tags,
                         run_config={"ops": {"scores": {"config": {"shard": r.shard, "shards": r.shards}}}})


def _bucket(key: str) -> pd.Timestamp:
    return pd.Timestamp(pd.to_datetime(key, format=PARTITION_KEY_FORMAT), tz="UTC")


def _instance(context: dg.SensorEvaluationContext) -> dg.DagsterInstance | None:
    """The sensor's instance; None for a test context built without one (then no run is known
    to be in flight and no read recorded, which re-scores as the store says)."""
    try:
        return context.instance
    except dg.DagsterInvariantViolationError:
        return None


def in_flight(instance: dg.DagsterInstance | None) -> tuple[frozenset[pd.Timestamp], bool]:
    """Buckets of scoring runs queued or running, and whether one of them is a catch-up run."""
    if instance is None:
        return frozenset(), False
    buckets: set[pd.Timestamp] = set()
    catchup = False
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=scoring_job.name, statuses=IN_FLIGHT)):
        tags = run.tags
        catchup = catchup or tags.get("smx/reason") == "catch-up"
        if "dagster/partition" in tags:
            buckets.add(_bucket(tags["dagster/partition"]))
        elif RANGE_START in tags and RANGE_END in tags:
            buckets.update(pd.date_range(_bucket(tags[RANGE_START]), _bucket(tags[RANGE_END]), freq=BUCKET))
    return frozenset(buckets), catchup


def finished_reads(instance: dg.DagsterInstance | None, buckets: set[pd.Timestamp],
                   shards: int) -> dict[pd.Timestamp, BucketRead]:
    """What the newest materialization of each bucket read (every shard's, the oldest of them
    when sharded); buckets never materialized are left out."""
    if instance is None:
        return {}
    out: dict[pd.Timestamp, BucketRead] = {}
    for b in buckets:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("scores"), asset_partitions=[partition_key(b)]),
            limit=3 * shards).records
        per_shard: dict[str, BucketRead | None] = {}
        for rec in records:  # newest first
            md = rec.asset_materialization.metadata if rec.asset_materialization else {}
            shard = str(getattr(md.get("shard"), "value", "whole"))
            # a materialization from before reads were recorded covers nothing
            per_shard.setdefault(shard, parse_read_metadata(md) or BucketRead(-1, None))
        if not per_shard:
            continue  # never materialized
        reads = list(per_shard.values())
        if len(reads) < max(shards, 1):
            reads.append(BucketRead(-1, None))  # a shard not scored yet
        out[b] = min(reads, key=lambda r: (r.received_until or pd.Timestamp.min.tz_localize("UTC"), r.n_readings))
    return out


def pin_models(context: dg.SensorEvaluationContext, mlflow: MlflowResource) -> str | None:
    """The champion and challenger versions of every use case, resolved here (the code server has
    the registry open) for the runs this tick requests (:mod:`~smx_assets.domain.model_registry.pins`).
    A registry that does not answer costs the runs their head start, not the tick: they resolve
    the aliases themselves (and fail there, with the run's error, if it is still down)."""
    try:
        return pins.to_tag(pins.resolve_pins(all_use_cases(), mlflow.client()))
    except Exception as exc:  # noqa: BLE001 - MLflow down or no model yet: each run finds out itself
        context.log.warning("model versions not resolved for the runs (%s: %s): each run resolves them",
                            type(exc).__name__, str(exc)[:300])
        return None


def utc_now() -> pd.Timestamp:
    """The sensor's clock (tests replace it to replay downtime and late arrivals)."""
    return pd.Timestamp.now(tz="UTC")


@dg.sensor(
    job=scoring_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches `scores` for the newest completed bucket first (priority 5), the backlog "
    "behind it in ranged catch-up runs (one at a time), and re-scores buckets of the last 24 h "
    "only for readings no finished run has read (run keys from the bucket's data).",
)
def scoring_sensor(context: dg.SensorEvaluationContext, sensor_store: SensorStoreResource,
                   mlflow: MlflowResource) -> dg.SensorResult:
    scoring = settings.current().scoring
    policy = scoring_policy(scoring)
    cursor = ScoringCursor.from_json(context.cursor)
    now = utc_now()
    due = latest_due_bucket(now, policy.grace)
    earliest = pd.Timestamp(ten_minute_partitions.start).tz_convert("UTC")
    changed = None
    if cursor.last_bucket is not None:
        since = (cursor.last_late_check - LATE_CHECK_OVERLAP) if cursor.last_late_check is not None \
            else now - policy.rescore_horizon
        changed = sensor_store.open().buckets_received_since(
            since, due - policy.rescore_horizon, due + BUCKET
        )
    instance = _instance(context)
    running, catchup_running = in_flight(instance)
    reads = finished_reads(instance, late_candidates(cursor, changed), scoring.shards)
    plan = plan_scoring(cursor, now, policy, earliest, changed,
                        RunState(running, catchup_running, reads, known=instance is not None))
    requests = [run_request(r) for r in shard_requests(plan.requests, scoring.shards)]
    if requests:
        pinned = pin_models(context, mlflow)
        if pinned:
            requests = [r.with_replaced_attrs(tags={**r.tags, pins.TAG: pinned}) for r in requests]
    events = []
    for start, end in plan.skipped:
        n = int((end - start) / BUCKET)
        context.log.warning("skipping %d buckets %s .. %s (older than the catch-up limit): "
                            "backfill `scores` over that range to score them", n, start, end)
        events.append(dg.AssetObservation(
            asset_key="scores",
            metadata={"skipped_from": partition_key(start), "skipped_to": partition_key(end),
                      "skipped_buckets": n, "reason": "older than SMX_SCORING_MAX_CATCHUP_HOURS"},
        ))
    if requests:
        context.log.info("requesting %s", ", ".join(
            f"{r.tags['smx/scoring_key']} ({r.tags['smx/reason']})"
            for r in requests))
    return dg.SensorResult(run_requests=requests, asset_events=events, cursor=plan.cursor.to_json())
