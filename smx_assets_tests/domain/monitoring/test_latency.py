"""Close-to-scored latency per bucket: first scoring run counts, ranged catch-up included,
re-scores counted as runs, retro-scoring kept out of the percentiles."""

from __future__ import annotations

import pandas as pd
import pytest

from smx_assets.domain.monitoring.latency import bucket_latencies, latency_figures

T = pd.Timestamp("2026-12-07 10:00", tz="UTC")
M = pd.Timedelta(minutes=1)


def _runs(*rows: tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp, str, int | None]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["window_start", "window_end", "scored_at", "dagster_run_id", "n_scores"])


def test_first_scoring_counts_and_every_run_is_counted_once_per_bucket() -> None:
    runs = _runs(
        (T, T + 10 * M, T + 16 * M, "new-10:00", 120),  # the newest bucket first: 6 min after close
        (T, T + 10 * M, T + 16 * M, "new-10:00", 120),  # its shadow/second use case: same run
        (T - 20 * M, T, T + 20 * M, "catch-up", 240),  # 09:40 and 09:50 behind it
        (T, T + 10 * M, T + 45 * M, "late-data", 120),  # a late delivery re-scores 10:00
        (T + 10 * M, T + 20 * M, T + 40 * M, "died", None),  # wrote nothing: not a scoring
        (T - 3 * pd.Timedelta(days=1), T - 20 * M, T, "retro", 10_000),  # last week's backfill ...
    )
    per = bucket_latencies(runs, T - 20 * M, T + 20 * M)
    assert list(per["bucket_start"]) == [T - 20 * M, T - 10 * M, T]
    assert list(per["latency_min"]) == pytest.approx([30.0, 20.0, 6.0])
    assert list(per["runs"]) == [1, 1, 2]
    figures = latency_figures(per)
    assert figures["n"] == 3 and figures["n_later"] == 0 and figures["max"] == 30.0
    assert figures["runs_per_bucket_max"] == 2 and figures["buckets_run_more_than_once"] == 1

    # ... seen over its own window, it is scoring later than a day: out of the percentiles.
    old = bucket_latencies(runs, T - 2 * pd.Timedelta(days=1), T - 2 * pd.Timedelta(days=1) + 30 * M)
    assert len(old) == 3 and latency_figures(old)["n"] == 0 and latency_figures(old)["n_later"] == 3


def test_nothing_scored_is_zero_buckets_not_an_error() -> None:
    assert latency_figures(bucket_latencies(_runs(), T, T + 10 * M)) == {"n": 0, "n_later": 0}
