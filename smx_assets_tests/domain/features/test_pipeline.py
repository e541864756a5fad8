import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.features.baselines import compute_baselines
from smx_assets.domain.features.pipeline import (
    FEATURE_COLUMNS,
    INDICATOR_COLUMNS,
    KEY_COLUMNS,
    LOOKBACK,
    compute_features,
)

from .helpers import DAY0, bolus, climate, records

D = pd.Timedelta(days=1)
TARGET = DAY0 + 11 * D
RANGE = (TARGET, TARGET + pd.Timedelta(hours=3))


@pytest.fixture(scope="module")
def inputs():
    readings = bolus([1, 2, 3], DAY0, TARGET + D)
    readings = readings[readings["animal_id"] != 3]  # animal 3 has a bolus but no readings at all
    clim = climate([1], DAY0, TARGET + D, air=25.0, rh=50.0)
    return readings, clim, compute_baselines(readings, TARGET)


def test_shape_columns_and_keys(inputs) -> None:
    readings, clim, base = inputs
    f = compute_features(readings, clim, records([1, 2, 3]), base, RANGE)
    assert list(f.columns) == KEY_COLUMNS + FEATURE_COLUMNS
    assert len(f) == 3 * 18 and not f.duplicated(KEY_COLUMNS).any()
    a1 = f[f["animal_id"] == 1]
    assert a1["temp_clean_mean_24h"].notna().all() and (a1["temp_missing"] == 0).all()
    assert a1["thi"].iloc[0] == pytest.approx(71.995)
    assert a1["temp_dev_hod"].abs().max() < 0.1


def test_missing_data_gives_indicators_never_zero(inputs) -> None:
    readings, _, base = inputs
    empty_climate = pd.DataFrame({"sensor_id": pd.Series(dtype="int64"), "ts": pd.Series(dtype="datetime64[ns, UTC]"),
                                  "air_temp_c": pd.Series(dtype="float64"), "rh_pct": pd.Series(dtype="float64")})
    f = compute_features(readings, empty_climate, records([1, 2, 3]), base, RANGE)
    a3 = f[f["animal_id"] == 3]
    for col in ("temp_raw", "temp_clean", "activity", "temp_clean_mean_2h", "temp_clean_mean_24h",
                "activity_mean_24h", "temp_dev_hod", "temp_hod_baseline", "temp_baseline_10d", "thi"):
        assert a3[col].isna().all(), col
    for col in ("temp_missing", "activity_missing", "baseline_missing", "baseline_10d_missing", "thi_missing",
                "calving_unknown", "insemination_unknown"):
        assert (a3[col] == 1).all(), col
    assert (a3["temp_clean_coverage_24h"] == 0).all() and (a3["n_readings"] == 0).all()
    assert f["thi_missing"].eq(1).all()
    assert set(INDICATOR_COLUMNS) >= {"temp_missing", "thi_missing", "baseline_missing"}
    # a gap inside the 2 h window lowers coverage, the mean stays over what is there
    gap = readings[~((readings["animal_id"] == 1) & (readings["ts"] >= TARGET - pd.Timedelta(hours=1))
                     & (readings["ts"] < TARGET + pd.Timedelta(minutes=10)))]
    g = compute_features(gap, empty_climate, records([1]), base, (TARGET, TARGET + pd.Timedelta(minutes=10)))
    assert g["temp_clean_coverage_2h"].iloc[0] == pytest.approx(5 / 12)  # 7 of 12 buckets (the hour + the target) missing
    assert g["temp_clean_mean_2h"].iloc[0] == pytest.approx(39.0, abs=0.05)
    assert g["temp_missing"].iloc[0] == 1.0


def test_training_path_cannot_see_the_future(inputs) -> None:
    readings, clim, base = inputs
    f = compute_features(readings, clim, records([1, 2]), base, RANGE)
    poisoned = readings.copy()
    late = poisoned["ts"] >= RANGE[0] + pd.Timedelta(hours=1)
    poisoned.loc[late, "temp_c"] = 41.9
    poisoned.loc[late, "activity"] = 999.0
    g = compute_features(poisoned, clim, records([1, 2]), base, RANGE)
    early = f["bucket_start"] < RANGE[0] + pd.Timedelta(hours=1)
    pd.testing.assert_frame_equal(f[early].reset_index(drop=True), g[early.to_numpy()].reset_index(drop=True))
    assert not f[~early].equals(g[~early.to_numpy()])


def test_day_equals_bucket_by_bucket(inputs) -> None:
    """The in-memory form of parity: a day's frame vs. one call per bucket on its own window."""
    readings, clim, base = inputs
    day = compute_features(readings, clim, records([1, 2, 3]), base, (TARGET, TARGET + D))
    B = pd.Timedelta(minutes=10)
    for b in (TARGET, TARGET + 71 * B, TARGET + 143 * B):
        r = readings[(readings["ts"] >= b - LOOKBACK) & (readings["ts"] < b + B)]
        one = compute_features(r, clim, records([1, 2, 3]), base, (b, b + B))
        pd.testing.assert_frame_equal(one.reset_index(drop=True),
                                      day[day["bucket_start"] == b].reset_index(drop=True), rtol=0, atol=1e-9)


def test_profile_is_as_recorded_and_age_dim() -> None:
    t = TARGET
    lact = pd.DataFrame({"animal_id": [1], "lactation_number": [3], "calving_at": [t - 5 * D],
                         "recorded_at": [t + pd.Timedelta(hours=1)]})  # entered late
    ins = pd.DataFrame({"animal_id": [1], "at": [t - 100 * D], "recorded_at": [t - 100 * D],
                        "pregnancy_check_at": [t + pd.Timedelta(hours=2)], "pregnant": [1.0]})
    housing = pd.DataFrame({"animal_id": [1], "kind": ["pasture"], "start": [t + pd.Timedelta(minutes=30)], "end": [pd.NaT]})
    rec = records([1], lactations=lact, inseminations=ins, housing=housing)
    readings = bolus([1], t - 2 * D, t + D)
    f = compute_features(readings, climate([1], t - 2 * D, t + D), rec, None, RANGE).set_index("bucket_start")
    before, after = f.loc[t], f.loc[t + pd.Timedelta(hours=2, minutes=50)]
    assert before["calving_unknown"] == 1 and np.isnan(before["days_in_milk"]) and np.isnan(before["lactation_number"])
    assert after["lactation_number"] == 3 and after["days_in_milk"] == pytest.approx(5 + 3 / 24)
    # the check (positive) came after the insemination's calving? no: calving (t-5d) is after the
    # insemination (t-100d), so she is not pregnant any more even once the check is known
    assert before["pregnant"] == 0 and after["pregnant"] == 0
    assert before["days_since_insemination"] == pytest.approx(100 + 1 / 144)
    assert before["on_pasture"] == 0 and after["on_pasture"] == 1
    assert before["age_days"] == pytest.approx(1011 + 1 / 144)
    assert (f["baseline_missing"] == 1).all()  # no baselines passed: explicit, not zero


def test_pregnancy_known_from_check() -> None:
    t = TARGET
    lact = pd.DataFrame({"animal_id": [1], "lactation_number": [2], "calving_at": [t - 150 * D], "recorded_at": [t - 150 * D]})
    ins = pd.DataFrame({"animal_id": [1], "at": [t - 60 * D], "recorded_at": [t - 60 * D],
                        "pregnancy_check_at": [t + pd.Timedelta(hours=1)], "pregnant": [1.0]})
    rec = records([1], lactations=lact, inseminations=ins)
    f = compute_features(bolus([1], t - 2 * D, t + D), climate([1], t - 2 * D, t + D), rec, None, RANGE)
    f = f.set_index("bucket_start")
    assert f.loc[t, "pregnant"] == 0 and np.isnan(f.loc[t, "days_pregnant"])
    late = f.loc[t + pd.Timedelta(hours=2)]
    assert late["pregnant"] == 1 and late["days_pregnant"] == pytest.approx(60 + 2 / 24 + 1 / 144)
