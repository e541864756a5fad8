"""Determinism, window independence, artefacts, late delivery and the herd records' shape."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.simulator import SimConfig, SimulatedHerd, bolus_readings, climate_readings, simulate
from smx_assets.domain.simulator.artefacts import HIGH_SPIKE_C
from smx_assets.domain.simulator.herd import build_herd

SMALL = SimConfig(n_animals=25, days=4, seed=7, start=dt.date(2024, 7, 10))


def test_same_seed_same_herd_other_seed_differs() -> None:
    a, b = simulate(SMALL), simulate(SMALL)
    pd.testing.assert_frame_equal(a.bolus, b.bolus)
    pd.testing.assert_frame_equal(a.climate, b.climate)
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], obj=name)
    c = simulate(dataclasses.replace(SMALL, seed=8))
    assert not np.array_equal(a.bolus["temp_c"].to_numpy()[:500], c.bolus["temp_c"].to_numpy()[:500])
    assert not a.gt_events["start"].equals(c.gt_events["start"])


def test_chunked_generation_equals_whole_window() -> None:
    herd = build_herd(SMALL)
    s, e = SMALL.start_ts, SMALL.end_ts
    whole = bolus_readings(herd, s, e)
    cuts = [s, s + pd.Timedelta(hours=13, minutes=20), s + pd.Timedelta(days=2), e - pd.Timedelta(minutes=10), e]
    pieces = pd.concat([bolus_readings(herd, a, b) for a, b in zip(cuts, cuts[1:])])
    pieces = pieces.sort_values(["animal_id", "ts"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, pieces)
    # a fresh herd object (as live mode builds every step) with a longer horizon gives the same
    longer = build_herd(SMALL, horizon_day=herd.horizon_day + 400)
    pd.testing.assert_frame_equal(whole, bolus_readings(longer, s, e))
    assert len(longer.gt_events) > len(herd.gt_events)
    merged = herd.gt_events.merge(longer.gt_events, on="id", suffixes=("", "_long"))
    assert len(merged) == len(herd.gt_events)  # every event (and id) survives a longer horizon
    assert (merged["start"] == merged["start_long"]).all()
    clim_whole = climate_readings(herd, s, e)
    clim_pieces = pd.concat([climate_readings(herd, a, b) for a, b in zip(cuts, cuts[1:])])
    clim_pieces = clim_pieces.sort_values(["sensor_id", "ts"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(clim_whole.sort_values(["sensor_id", "ts"], kind="stable").reset_index(drop=True),
                                  clim_pieces)


def test_a_longer_window_extends_without_changing_the_start() -> None:
    short = simulate(SMALL)
    long = simulate(dataclasses.replace(SMALL, days=6))
    head = long.bolus[long.bolus["ts"] < SMALL.end_ts].reset_index(drop=True)
    pd.testing.assert_frame_equal(short.bolus, head)


def test_frame_format(raw_herd: SimulatedHerd) -> None:
    b = raw_herd.bolus
    assert list(b.columns) == ["animal_id", "ts", "temp_c", "activity", "ph", "received_at"]
    assert str(b["ts"].dtype) == "datetime64[ns, UTC]" and str(b["received_at"].dtype) == "datetime64[ns, UTC]"
    assert b["animal_id"].dtype == np.int64 and b["temp_c"].dtype == np.float64
    assert (b["received_at"] >= b["ts"]).all()
    assert b["ts"].min() >= raw_herd.config.start_ts and b["ts"].max() < raw_herd.config.end_ts
    assert set(b["animal_id"]) <= set(raw_herd.animals["id"])
    assert (np.round(b["temp_c"], 2) == b["temp_c"]).all()  # 0.01 °C resolution
    c = raw_herd.climate
    assert list(c.columns) == ["sensor_id", "ts", "air_temp_c", "rh_pct", "received_at"]
    assert set(c["sensor_id"]) == set(raw_herd.climate_sensors["id"])


def test_artefacts_stay_in_the_raw_frame(raw_herd: SimulatedHerd) -> None:
    b = raw_herd.bolus
    assert (b["temp_c"] == 0.0).sum() >= 10
    assert (b["temp_c"] == HIGH_SPIKE_C).sum() >= 5
    assert b["ph"].max() > 14.0 and b["ph"].max() <= 26.0
    dup = b.duplicated(keep=False)
    assert dup.sum() >= 2 * 50
    assert b[dup].duplicated(["animal_id", "ts"], keep=False).all()  # exact copies, same key
    step = b.drop_duplicates(["animal_id", "ts"]).groupby("animal_id")["ts"].diff().dropna()
    assert (step > pd.Timedelta(hours=1)).sum() >= 20  # multi-hour gaps
    expected = raw_herd.config.n_animals * raw_herd.config.days * 144
    assert 0.9 * expected < len(b) < expected


def test_clean_config_has_no_artefacts() -> None:
    clean = simulate(dataclasses.replace(SMALL, artefacts=False, new_bolus_share=0.0))
    b = clean.bolus
    assert b["temp_c"].between(30.0, 43.0).all() and not b.duplicated().any()
    assert len(b) == SMALL.n_animals * SMALL.days * 144


def test_late_delivery_share_and_pasture(raw_herd: SimulatedHerd) -> None:
    b = raw_herd.bolus
    delay = b["received_at"] - b["ts"]
    late = delay > pd.Timedelta(minutes=30)
    assert (delay[~late] <= pd.Timedelta(minutes=2)).all()
    assert delay.max() <= pd.Timedelta(hours=8, minutes=10)
    farm = b["animal_id"].map(raw_herd.animals.set_index("id")["farm_id"])
    pasture = farm.isin(raw_herd.farms.loc[raw_herd.farms["default_housing"] == "pasture", "id"])
    barn_share, pasture_share = late[~pasture].mean(), late[pasture].mean()
    assert 0.01 <= barn_share <= 0.06
    assert pasture_share > 2.0 * barn_share


def test_new_boluses_settle() -> None:
    herd = simulate(dataclasses.replace(SMALL, n_animals=150, days=15, new_bolus_share=0.2, artefacts=False))
    inserted = herd.animals.set_index("id")["bolus_inserted_at"]
    new = inserted[(inserted > herd.config.start_ts) & (inserted < herd.config.end_ts - pd.Timedelta(days=2))]
    assert len(new) >= 5
    b = herd.bolus.merge(new.rename("ins"), left_on="animal_id", right_index=True)
    assert (b["ts"] >= b["ins"]).all()  # no readings before insertion
    first_h = b[b["ts"] < b["ins"] + pd.Timedelta(hours=2)]["temp_c"].mean()
    later = b[b["ts"] > b["ins"] + pd.Timedelta(hours=30)]["temp_c"].mean()
    assert later - first_h > 1.0


def test_firmware_offset_drift_hook() -> None:
    base = simulate(SMALL)
    cut = SMALL.start + dt.timedelta(days=2)
    drift = simulate(dataclasses.replace(SMALL, temp_offset_from=cut, temp_offset_c=0.5))
    diff = drift.bolus["temp_c"] - base.bolus["temp_c"]
    after = drift.bolus["ts"] >= pd.Timestamp(cut, tz="UTC")
    spikes = base.bolus["temp_c"].isin([0.0, HIGH_SPIKE_C])
    assert np.allclose(diff[~after], 0.0)
    assert np.allclose(diff[after & ~spikes], 0.5, atol=0.011)


def test_hotter_farm_hook_raises_thi() -> None:
    base = simulate(SMALL)
    hot = simulate(dataclasses.replace(SMALL, extra_heat_c=5.0))
    assert hot.climate["air_temp_c"].mean() > base.climate["air_temp_c"].mean() + 2.5
    def afternoon(b: pd.DataFrame) -> float:  # 12-16 h: hot, and outside the drinking clusters
        return float(b.loc[b["ts"].dt.hour.between(12, 16), "temp_c"].median())

    def drops(b: pd.DataFrame) -> int:
        return int((b.groupby("animal_id")["temp_c"].diff() < -1.5).sum())

    assert afternoon(hot.bolus) > afternoon(base.bolus) + 0.08  # heat stress raises temperature
    assert drops(hot.bolus) > 1.1 * drops(base.bolus)  # and water intake


def test_herd_records(raw_herd: SimulatedHerd) -> None:
    cfg = raw_herd.config
    assert len(raw_herd.animals) == cfg.n_animals and raw_herd.animals["id"].is_unique
    assert set(raw_herd.farms["default_housing"]) == {"barn", "pasture"}
    for name, table in raw_herd.tables().items():
        assert table["id"].is_unique, name
    ins = raw_herd.inseminations
    assert (ins["recorded_at"] >= ins["at"]).all()
    checked = ins.dropna(subset=["pregnancy_check_at"])
    days_to_check = (checked["pregnancy_check_at"] - checked["at"]) / pd.Timedelta(days=1)
    assert days_to_check.between(35, 45).all()
    lact = raw_herd.lactations
    calvings = raw_herd.gt_events[raw_herd.gt_events["kind"] == "calving"]
    assert sorted(lact["calving_at"]) == sorted(calvings["start"])
    assert (lact["recorded_at"] > lact["calving_at"]).all()
    tr = raw_herd.treatments
    fevers = raw_herd.gt_events[raw_herd.gt_events["kind"].isin(["fever", "milk_fever"])]
    assert set(tr["diagnosis"]) <= {"mastitis", "metritis", "milk_fever"}
    onset = fevers.set_index("id")["start"]
    gt_id = tr["animal_id"] * 10_000 + tr["diagnosis"].map({"metritis": 4000, "mastitis": 5000, "milk_fever": 6000}) \
        + (tr["id"] % 1000) % 300
    onset_of = onset.reindex(gt_id.to_numpy()).set_axis(tr.index)
    delay = (tr["diagnosed_at"] - onset_of) / pd.Timedelta(days=1)
    assert delay.notna().all() and delay.between(0.0, 4.0).all()
    preg = raw_herd.gt_events[raw_herd.gt_events["kind"] == "pregnancy"]
    gest = (preg["end"] - preg["start"]) / pd.Timedelta(days=1)
    assert 270 <= gest.mean() <= 290


@pytest.mark.parametrize("days", [0, 1])
def test_tiny_windows(days: int) -> None:
    herd = simulate(SimConfig(n_animals=3, days=days, seed=1, n_farms=1))
    assert len(herd.bolus) <= 3 * 144 * days + 5
    assert list(herd.bolus.columns)[:5] == ["animal_id", "ts", "temp_c", "activity", "ph"]


def test_record_timestamps_keep_missing_as_nat_without_the_float_path() -> None:
    """CI once failed in pandas' float-seconds conversion at a NaN pregnancy check (garbage
    memory overflowed); the helper must map NaN to NaT and whole seconds exactly, every time."""
    from smx_assets.domain.simulator.herd import _ts

    for _ in range(200):
        minutes = pd.Series([np.nan, 29_000_000.5, np.nan, 1.0, 1e-3], index=[5, 6, 7, 8, 9])
        out = _ts(minutes)
        assert list(out.index) == [5, 6, 7, 8, 9]
        assert str(out.dtype) == "datetime64[ns, UTC]"
        assert out.isna().tolist() == [True, False, True, False, False]
        assert out.iloc[1] == pd.Timestamp("2025-02-19 21:20:30", tz="UTC")
        assert out.iloc[3] == pd.Timestamp("1970-01-01 00:01:00", tz="UTC")
        assert out.iloc[4] == pd.Timestamp("1970-01-01", tz="UTC")  # rounded to the second
