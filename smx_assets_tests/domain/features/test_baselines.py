import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.features.baselines import compute_baselines

from .helpers import DAY0, bolus

D = pd.Timedelta(days=1)


def _rhythm(frame: pd.DataFrame) -> pd.DataFrame:
    """A smooth (no drinking-like steps) known per-hour temperature; activity 10 + hour."""
    h = frame["ts"].dt.hour
    return frame.assign(temp_c=_temp(h), activity=10.0 + h)


def _temp(h):  # type: ignore[no-untyped-def]
    return 39.0 + 0.3 * np.cos(2 * np.pi * h / 24)


def test_same_hour_baseline_and_10_day_mean() -> None:
    target = DAY0 + 11 * D
    readings = _rhythm(bolus([1, 2], DAY0, target))
    b = compute_baselines(readings, target).set_index(["animal_id", "hour"])
    assert len(b) == 48 and (b["day"] == target).all()
    for h in (0, 7, 23):
        assert b.loc[(1, h), "temp_hod"] == pytest.approx(_temp(h))
        assert b.loc[(2, h), "activity_hod"] == pytest.approx(10.0 + h)
        assert b.loc[(1, h), "temp_hod_days"] == 10
    assert b.loc[(1, 0), "temp_10d"] == pytest.approx(39.0)


def test_baseline_never_sees_its_own_day_or_later() -> None:
    target = DAY0 + 11 * D
    readings = bolus([1], DAY0, target + 3 * D)
    ref = compute_baselines(readings[readings["ts"] < target], target)
    poisoned = readings.copy()
    poisoned.loc[poisoned["ts"] >= target, "temp_c"] = 41.5
    poisoned.loc[poisoned["ts"] >= target, "activity"] = 500.0
    pd.testing.assert_frame_equal(compute_baselines(poisoned, target), ref)


def test_too_little_history_is_missing_not_zero() -> None:
    target = DAY0 + 11 * D
    readings = bolus([1], target - 2 * D, target)  # only 2 of 10 days
    b = compute_baselines(readings, target)
    assert b["temp_hod"].isna().all() and b["activity_hod"].isna().all()
    assert (b["temp_hod_days"] == 2).all()
    assert b["temp_10d"].notna().all()  # 288 clean buckets are enough for the 10-day mean
