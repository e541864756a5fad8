"""The scoring sensor: new buckets after a grace period, late-data re-scores, bounded catch-up.

All decisions are made by ``smx_assets.domain.scoring.planning.plan_scoring``; this shell reads
the clock and the store, and turns the plan into run requests and an observation of any
skipped range (so a gap after long downtime is visible in the UI, never silent).
"""


import dagster as dg
import pandas as pd

from smx_assets import settings
from smx_assets.defs.partitions import ten_minute_partitions
from smx_assets.defs.scoring.jobs import scoring_job
from smx_assets.domain.scoring.planning import (
    BucketRequest,
    ScoringCursor,
    ScoringPolicy,
    latest_due_bucket,
    plan_scoring,
    shard_requests,
)
from smx_assets.domain.time_grid import BUCKET, partition_key
from smx_assets.resources import SensorStoreResource
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


def run_request(r: BucketRequest) -> dg.RunRequest:
    """The run request of one planned bucket (and shard).

    ``smx/scoring_key`` (``<partition>``, or ``<partition>/<shard>`` when sharded) is what the
    run queue limits to one run at a time (``tag_concurrency_limits`` in infra/dagster/dagster.yaml),
    so the shards of a bucket run in parallel while one shard of a bucket never runs twice at once.
    A sharded run gets its shard in its run config too, so the run is self-describing."""
    key = partition_key(r.bucket_start)
    tags = {"smx/reason": r.reason}
    if r.shard is None:
        tags["smx/scoring_key"] = key
        return dg.RunRequest(run_key=r.run_key, partition_key=key, tags=tags)
    tags.update({"smx/shard": str(r.shard), "smx/shards": str(r.shards), "smx/scoring_key": f"{key}/{r.shard}"})
    return dg.RunRequest(run_key=r.run_key, partition_key=key, tags=tags,
                         run_config={"ops": {"scores": {"config": {"shard": r.shard, "shards": r.shards}}}})


def utc_now() -> pd.Timestamp:
    """The sensor's clock (tests replace it to replay downtime and late arrivals)."""
    return pd.Timestamp.now(tz="UTC")


@dg.sensor(
    job=scoring_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches `scores` for each completed bucket after the grace period, and re-scores "
    "buckets of the last 24 h whose readings changed (run keys from the bucket's data).",
)
def scoring_sensor(context: dg.SensorEvaluationContext, sensor_store: SensorStoreResource) -> dg.SensorResult:
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
    plan = plan_scoring(cursor, now, policy, earliest, changed)
    requests = [run_request(r) for r in shard_requests(plan.requests, scoring.shards)]
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
            f"{r.partition_key}{'/' + r.tags['smx/shard'] if 'smx/shard' in r.tags else ''} ({r.tags['smx/reason']})"
            for r in requests))
    return dg.SensorResult(run_requests=requests, asset_events=events, cursor=plan.cursor.to_json())
