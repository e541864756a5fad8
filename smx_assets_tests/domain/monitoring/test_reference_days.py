"""The drift reference days accept the naive days MLflow lineage gives and aware partition days."""

from __future__ import annotations

import pandas as pd

from smx_assets.domain.monitoring.drift import reference_days


def test_naive_training_days_and_aware_partition_day_mix() -> None:
    day = pd.Timestamp("2026-11-20", tz="UTC")
    training = [pd.Timestamp("2026-11-17"), pd.Timestamp("2026-11-18 00:00"), pd.Timestamp("2026-11-20")]
    days, source = reference_days(day, training)
    assert source == "champion training days"
    assert days == [pd.Timestamp("2026-11-17", tz="UTC"), pd.Timestamp("2026-11-18", tz="UTC")]


def test_without_lineage_the_days_before_stand_in() -> None:
    day = pd.Timestamp("2026-11-20")
    days, source = reference_days(day, None, fallback_days=3)
    assert source == "3 days before"
    assert days == [pd.Timestamp(f"2026-11-{d}", tz="UTC") for d in (17, 18, 19)]
