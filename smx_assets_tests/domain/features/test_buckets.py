import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.features.buckets import bucket_range, bucketize_bolus, to_grid
from smx_assets.domain.time_grid import floor_bucket

from .helpers import DAY0


@pytest.mark.parametrize(("ts", "expected"), [
    ("2024-06-01 14:01:30", "2024-06-01 14:00"),
    ("2024-06-01 14:00:00", "2024-06-01 14:00"),  # a bucket starts inclusive ...
    ("2024-06-01 14:09:59.999999", "2024-06-01 14:00"),
    ("2024-06-01 14:10:00", "2024-06-01 14:10"),  # ... and ends exclusive
    ("2024-06-01 23:59:59", "2024-06-01 23:50"),
    ("2024-06-02 01:05:00+02:00", "2024-06-01 23:00"),  # converted to UTC first
])
def test_floor_bucket(ts: str, expected: str) -> None:
    assert floor_bucket(ts) == pd.Timestamp(expected, tz="UTC")


def test_bucket_range_half_open() -> None:
    r = bucket_range("2024-06-01 00:05", "2024-06-01 00:30")
    assert list(r.strftime("%H:%M")) == ["00:00", "00:10", "00:20"]


def test_bucketize_means_counts_and_artefacts() -> None:
    frame = pd.DataFrame({
        "animal_id": [1, 1, 1, 2, 2],
        "ts": pd.to_datetime(["2024-06-01 14:01:30", "2024-06-01 14:09:00", "2024-06-01 14:10:00",
                              "2024-06-01 14:02:00", "2024-06-01 14:03:00"], utc=True),
        "temp_c": [39.0, 39.2, 98.98, 0.0, 39.1],
        "activity": [10.0, 20.0, 5.0, 7.0, 9.0],
        "ph": [np.nan, np.nan, 26.0, 6.2, np.nan],
    })
    out = bucketize_bolus(frame).set_index(["animal_id", "bucket"])
    a1 = out.loc[(1, pd.Timestamp("2024-06-01 14:00", tz="UTC"))]
    assert a1["temp_c"] == pytest.approx(39.1) and a1["activity"] == 15.0 and a1["n_readings"] == 2
    a1b = out.loc[(1, pd.Timestamp("2024-06-01 14:10", tz="UTC"))]
    # 98.98 °C and pH 26 are artefacts: dropped (NaN, not 0), counted; the activity is kept
    assert np.isnan(a1b["temp_c"]) and np.isnan(a1b["ph"]) and a1b["activity"] == 5.0 and a1b["n_artefacts"] == 2
    a2 = out.loc[(2, pd.Timestamp("2024-06-01 14:00", tz="UTC"))]
    assert a2["temp_c"] == pytest.approx(39.1) and a2["ph"] == 6.2 and a2["n_artefacts"] == 1


def test_to_grid_any_resolution_and_out_of_range_ignored() -> None:
    frame = pd.DataFrame({"animal_id": [1, 2, 9], "bucket": pd.to_datetime(
        [DAY0, DAY0 + pd.Timedelta(minutes=10), DAY0], utc=True).as_unit("us"), "v": [1.0, 2.0, 3.0]})
    g = to_grid(frame, np.array([1, 2]), bucket_range(DAY0, DAY0 + pd.Timedelta(minutes=30)), ["v"])
    np.testing.assert_array_equal(g["v"], [[1.0, np.nan, np.nan], [np.nan, 2.0, np.nan]])


def _bits_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, dtypes, index and values bit for bit (NaN where NaN, -0.0 is not 0.0)."""
    assert list(a.columns) == list(b.columns) and list(a.dtypes) == list(b.dtypes)
    assert a.index.equals(b.index)
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f":
            assert np.array_equal(x.view("int64"), y.view("int64")), c
        else:
            assert np.array_equal(x, y), c


@pytest.mark.parametrize("seed", range(6))
def test_bucketize_fast_path_equals_the_pandas_group_by(seed: int) -> None:
    """The numpy path (one-reading buckets taken over, the rest grouped) gives the very frame the
    pandas group-by over every reading gives: unsorted input, several readings per bucket, collar
    intervals spread over 12 buckets, artefacts, NaN fields, -0.0 activity, second resolution."""
    from smx_assets.domain.features.buckets import _bucketize_pandas

    rng = np.random.default_rng(seed)
    n = 3000
    ts = DAY0 + pd.to_timedelta(rng.integers(0, 6 * 3600, n), unit="s")
    frame = pd.DataFrame({
        "animal_id": rng.integers(1, 40, n).astype("int64"),
        "ts": ts if seed % 2 else ts.as_unit("s"),
        "temp_c": np.round(rng.normal(39.0, 2.0, n), 2),
        "activity": np.where(rng.random(n) < 0.05, -0.0, np.round(rng.gamma(2.0, 5.0, n), 1)),
        "ph": np.where(rng.random(n) < 0.5, np.nan, np.round(rng.normal(6.2, 1.5, n), 2)),
        "interval_s": np.where(rng.random(n) < (0.1 if seed >= 3 else 0.0), 7200, 600).astype("int64"),
    })
    frame.loc[rng.random(n) < 0.03, "temp_c"] = 98.98
    frame.loc[rng.random(n) < 0.03, "activity"] = np.nan
    if seed == 0:  # sorted by (animal, ts), as the stores return it
        frame = frame.sort_values(["animal_id", "ts"], kind="stable", ignore_index=True)
    fast, ref = bucketize_bolus(frame), _bucketize_pandas(frame)
    assert (fast.groupby(["animal_id", "bucket"]).size() == 1).all() and len(fast) < n  # groups exist
    _bits_equal(fast, ref)
