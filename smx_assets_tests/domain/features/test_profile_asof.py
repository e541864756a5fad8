"""The profile's as-of look-ups without pandas' per-call cost give what ``merge_asof`` and
``max(axis=1)`` gave, value for value (ties at one instant, events without an instant, animals
without events, rows in any order), and the THI memo returns the tables of the same inputs only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.features import pipeline
from smx_assets.domain.features.climate import bucket_thi, location_thi, sensor_thi
from smx_assets.domain.features.profile import _asof, _later

T0 = pd.Timestamp("2026-10-01", tz="UTC")


def _reference_asof(rows: pd.DataFrame, events: pd.DataFrame, on: str, cols: list[str]) -> pd.DataFrame:
    """The implementation before (pandas merge_asof)."""
    ev = events[["animal_id", on, *cols]].dropna(subset=[on]).sort_values(on, kind="stable")
    left = rows[["t", "animal_id"]].reset_index().sort_values("t", kind="stable")
    merged = pd.merge_asof(left, ev, left_on="t", right_on=on, by="animal_id", direction="backward",
                           allow_exact_matches=False)
    return merged.set_index("index")[cols].reindex(rows.index)


def _hours(rng: np.random.Generator, n: int, nat: float = 0.0) -> pd.Series:
    values = pd.Series(T0 + pd.to_timedelta(rng.integers(0, 40, n), unit="h"))
    values[rng.random(n) < nat] = pd.NaT
    return values.astype("datetime64[ns, UTC]")


def test_asof_equals_merge_asof_on_random_records() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        n_ev, n_rows = int(rng.integers(1, 40)), int(rng.integers(1, 60))
        events = pd.DataFrame({"animal_id": rng.integers(1, 6, n_ev).astype("int64"), "at": _hours(rng, n_ev, 0.2),
                               "number": rng.integers(1, 9, n_ev).astype("int64"),
                               "when": _hours(rng, n_ev, 0.3), "value": rng.random(n_ev)})
        rows = pd.DataFrame({"animal_id": rng.integers(1, 8, n_rows).astype("int64"), "t": _hours(rng, n_rows).array},
                            index=rng.permutation(n_rows) + 100)
        got = _asof(rows, events, "at", ["number", "when", "value"])
        want = _reference_asof(rows, events, "at", ["number", "when", "value"])
        pd.testing.assert_index_equal(got.index, want.index)
        for col in ("number", "when", "value"):
            g, w = got[col], want[col]
            assert g.isna().equals(w.isna())
            if col == "when":
                assert (g.dropna() == w.dropna()).all()
            else:
                np.testing.assert_array_equal(g.to_numpy(dtype="float64"), w.to_numpy(dtype="float64"))


def test_later_is_the_row_max_with_nat_skipped() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": _hours(rng, 50, 0.3), "b": _hours(rng, 50, 0.3)}, index=np.arange(50) * 2)
    got, want = _later(frame, "a", "b"), frame[["a", "b"]].max(axis=1)
    assert got.dtype == want.dtype and got.index.equals(want.index)
    assert got.isna().equals(want.isna()) and (got.dropna() == want.dropna()).all()


def _climate(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({"sensor_id": rng.integers(1, 4, n).astype("int64"),
                         "ts": T0 + pd.to_timedelta(rng.integers(0, 25 * 3600, n), unit="s"),
                         "air_temp_c": rng.uniform(-5, 35, n), "rh_pct": rng.uniform(20, 100, n)})


def test_thi_halves_and_memo() -> None:
    rng = np.random.default_rng(11)
    sensors = pd.DataFrame({"sensor_id": [1, 2, 3], "farm_id": [1, 1, 2], "location": ["barn", "pasture", "barn"]})
    climate = _climate(rng, 300)
    pd.testing.assert_frame_equal(bucket_thi(climate, sensors), location_thi(sensor_thi(climate), sensors))
    records = type("R", (), {"sensors": sensors})()
    grid = pd.date_range(T0, periods=150, freq="10min")
    memo = pipeline._ThiMemo()
    first = memo.get(climate, records, grid, 144, 150)  # type: ignore[arg-type]
    again = memo.get(climate.copy(), records, grid, 144, 150)  # type: ignore[arg-type]
    assert again[1]["thi"] is first[1]["thi"]  # the same content: the stored tables
    fresh = pipeline._thi_tables(climate, records, grid, 144, 150)  # type: ignore[arg-type]
    for k in fresh[1]:
        np.testing.assert_array_equal(first[1][k], fresh[1][k])
    changed = climate.copy()
    changed.loc[5, "air_temp_c"] += 1.0
    other = memo.get(changed, records, grid, 144, 150)  # type: ignore[arg-type]
    assert other[1]["thi"] is not first[1]["thi"]
    np.testing.assert_array_equal(other[1]["thi"], pipeline._thi_tables(changed, records, grid, 144, 150)[1]["thi"])  # type: ignore[arg-type]


def test_of_animals_is_the_isin_selection_in_table_order() -> None:
    """The indexed selection gives each table's rows of the animals exactly as a scan did (same
    rows, order and index labels), the farms whole and the sensors of their farms; a table
    replaced afterwards is indexed again."""
    from smx_assets_tests.domain.features.helpers import records

    rng = np.random.default_rng(5)
    ids = list(range(1, 301))
    n = 900
    lact = pd.DataFrame({"animal_id": rng.choice(ids, n), "lactation_number": rng.integers(1, 5, n),
                         "calving_at": _hours(rng, n).array, "recorded_at": _hours(rng, n).array})
    rec = records(ids, lactations=lact)
    rec.animals.loc[rec.animals["animal_id"] > 150, "farm_id"] = 2
    rec.sensors = pd.DataFrame({"sensor_id": [1, 2, 3], "farm_id": [1, 2, 2], "location": ["barn", "barn", "pasture"]})
    for k in (1, 3, 64, 65, 200, 300):
        want_ids = rng.choice(ids, k, replace=False)
        got = rec.of_animals(want_ids)
        if k == 300:
            assert got is rec
            continue
        for name in ("animals", "lactations", "inseminations", "treatments", "housing", "heat_feedback"):
            table = getattr(rec, name)
            pd.testing.assert_frame_equal(getattr(got, name), table[table["animal_id"].isin(want_ids)])
        assert got.farms is rec.farms
        assert set(got.sensors["farm_id"]) == set(got.animals["farm_id"])
    rec.lactations = lact.iloc[::-1]  # replaced: the index follows
    one = rec.of_animals([7]).lactations
    pd.testing.assert_frame_equal(one, rec.lactations[rec.lactations["animal_id"] == 7])
