"""``scores_freshness``: the freshness SLO of ``scores`` as an asset check Dagster shows.

WARN when the newest scored bucket closed more than 20 minutes ago, FAIL past an hour (the
rules: ``smx_assets.domain.monitoring.freshness``). A check run only when ``scores`` runs could
never say that scoring has stopped, so ``scores_freshness_sensor`` evaluates it every few
minutes without launching a run and reports it on the asset (on every change of state, and
every ten minutes). The check can also be executed by hand from the asset's page.
"""

import json

import dagster as dg
import pandas as pd

from smx_assets.domain.monitoring.freshness import Freshness, scores_freshness
from smx_assets.domain.time_grid import PARTITION_KEY_FORMAT

CHECK = "scores_freshness"
SCORES = dg.AssetKey("scores")
# Materializations looked at for the newest bucket: a catch-up run writes one per bucket (36),
# so the newest bucket is among the last few hundred even behind a catch-up.
LOOK_BACK = 500
REPORT_EVERY = pd.Timedelta(minutes=10)
SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "fail": dg.AssetCheckSeverity.ERROR}


def utc_now() -> pd.Timestamp:
    """The check's clock (tests replace it)."""
    return pd.Timestamp.now(tz="UTC")


def newest_scored_bucket(instance: dg.DagsterInstance) -> pd.Timestamp | None:
    """The start of the newest ten-minute bucket ``scores`` was materialized for."""
    records = instance.fetch_materializations(SCORES, limit=LOOK_BACK).records
    keys = [r.partition_key for r in records if r.partition_key]
    if not keys:
        return None
    return max(pd.Timestamp(pd.to_datetime(k, format=PARTITION_KEY_FORMAT), tz="UTC") for k in keys)


def _fields(f: Freshness) -> dict[str, object]:
    metadata: dict[str, object] = {"state": f.state, "warn_after_min": 20, "fail_after_min": 60}
    if f.age_minutes is not None:
        metadata["newest_bucket_age_min"] = float(f.age_minutes)
    if f.newest_bucket is not None:
        metadata["newest_scored_bucket"] = f"{f.newest_bucket:%Y-%m-%d %H:%M} UTC"
    return {"passed": f.state == "fresh", "severity": SEVERITY.get(f.state, dg.AssetCheckSeverity.WARN),
            "description": f.description, "metadata": metadata}


@dg.asset_check(asset=SCORES, name=CHECK,
                description="Freshness SLO: WARN when the newest scored bucket closed more than 20 min ago, "
                            "FAIL past 1 h (evaluated every few minutes by scores_freshness_sensor).")
def scores_freshness_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(**_fields(scores_freshness(newest_scored_bucket(context.instance), utc_now())))


@dg.sensor(
    # its target is the check it reports; it never requests a run (Dagster wants a target)
    target=dg.AssetSelection.checks(dg.AssetCheckKey(SCORES, CHECK)),
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the scores_freshness check (WARN > 20 min, FAIL > 1 h since the newest scored "
                "bucket closed) without a run; reports each change of state, and every 10 minutes.",
)
def scores_freshness_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    now = utc_now()
    f = scores_freshness(newest_scored_bucket(context.instance), now)
    last = json.loads(context.cursor) if context.cursor else {}
    due = (last.get("state") != f.state or "at" not in last
           or now - pd.Timestamp(last["at"]) >= REPORT_EVERY)
    if not due:
        return dg.SensorResult(skip_reason=f"scores_freshness still {f.state}", cursor=context.cursor)
    event = dg.AssetCheckEvaluation(asset_key=SCORES, check_name=CHECK, **_fields(f))  # type: ignore[arg-type]
    return dg.SensorResult(asset_events=[event], cursor=json.dumps({"state": f.state, "at": now.isoformat()}))
