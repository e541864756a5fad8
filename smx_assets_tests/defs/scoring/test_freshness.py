"""The scores_freshness check: fresh, WARN past 20 minutes, FAIL past an hour, on a real instance."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from smx_assets.defs.scoring import freshness
from smx_assets.domain.monitoring.freshness import scores_freshness
from smx_assets.domain.time_grid import BUCKET, partition_key

T0 = pd.Timestamp("2026-12-01 12:00", tz="UTC")


def test_three_states_from_the_newest_bucket_close() -> None:
    closes = T0 + BUCKET
    assert scores_freshness(T0, closes + pd.Timedelta(minutes=16)).state == "fresh"
    assert scores_freshness(T0, closes + pd.Timedelta(minutes=20)).state == "fresh"  # 20 min is still fine
    warn = scores_freshness(T0, closes + pd.Timedelta(minutes=21))
    assert (warn.state, warn.age_minutes) == ("warn", 21.0) and "2026-12-01 12:00" in warn.description
    assert scores_freshness(T0, closes + pd.Timedelta(minutes=60)).state == "warn"
    fail = scores_freshness(T0, closes + pd.Timedelta(minutes=61))
    assert fail.state == "fail" and "stopped" in fail.description
    assert scores_freshness(None, closes).state == "fail"


def _evaluate(instance: dg.DagsterInstance, now: pd.Timestamp, cursor: str | None,
              monkeypatch: pytest.MonkeyPatch) -> dg.SensorResult:
    monkeypatch.setattr(freshness, "utc_now", lambda: now)
    return freshness.scores_freshness_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_sensor_reports_the_check_in_its_three_states(monkeypatch: pytest.MonkeyPatch) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        # the newest bucket is not the last materialized: a catch-up run wrote older ones after it
        for b in (T0, T0 - 30 * BUCKET, T0 - 29 * BUCKET):
            instance.report_runless_asset_event(dg.AssetMaterialization("scores", partition=partition_key(b)))
        seen = []
        cursor = None
        for minutes in (15, 25, 75):
            res = _evaluate(instance, T0 + BUCKET + pd.Timedelta(minutes=minutes), cursor, monkeypatch)
            [event] = res.asset_events
            assert isinstance(event, dg.AssetCheckEvaluation)
            assert (event.asset_key, event.check_name) == (dg.AssetKey("scores"), "scores_freshness")
            assert event.metadata["newest_scored_bucket"].value == "2026-12-01 12:00 UTC"
            seen.append((event.passed, event.severity, event.metadata["newest_bucket_age_min"].value))
            cursor = res.cursor
        assert seen == [(True, dg.AssetCheckSeverity.WARN, 15.0), (False, dg.AssetCheckSeverity.WARN, 25.0),
                        (False, dg.AssetCheckSeverity.ERROR, 75.0)]
        # same state two minutes later: no new evaluation; ten minutes later: reported again
        quiet = _evaluate(instance, T0 + BUCKET + pd.Timedelta(minutes=77), cursor, monkeypatch)
        assert quiet.asset_events == [] and quiet.skip_reason
        again = _evaluate(instance, T0 + BUCKET + pd.Timedelta(minutes=86), cursor, monkeypatch)
        assert len(again.asset_events) == 1
        # a new bucket scored: fresh again
        instance.report_runless_asset_event(dg.AssetMaterialization("scores", partition=partition_key(T0 + 8 * BUCKET)))
        fresh = _evaluate(instance, T0 + 9 * BUCKET + pd.Timedelta(minutes=6), cursor, monkeypatch)
        assert fresh.asset_events[0].passed


def test_the_check_runs_by_hand_with_the_same_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    from smx_assets.defs.scoring.assets import scores

    monkeypatch.setattr(freshness, "utc_now", lambda: T0 + BUCKET + pd.Timedelta(minutes=30))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("scores", partition=partition_key(T0)))
        result = dg.materialize([scores.to_source_asset(), freshness.scores_freshness_check], instance=instance,
                                selection=dg.AssetSelection.checks(freshness.scores_freshness_check))
        [evaluation] = result.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
