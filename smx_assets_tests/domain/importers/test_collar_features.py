"""2-hour collar readings on the 10-minute feature path, and use cases gated by signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.features.buckets import bucketize_bolus, spread_intervals
from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.importers import import_paths
from smx_assets.domain.scoring.engine import window_features
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.use_cases.base import signal_gate
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets_tests.realdata import bovheat_dir


def test_a_two_hour_reading_is_two_hours_of_activity() -> None:
    readings = pd.DataFrame({
        "animal_id": [1, 1, 2], "ts": pd.to_datetime(["2019-02-01 00:00", "2019-02-01 02:00", "2019-02-01 00:03"], utc=True),
        "temp_c": [np.nan, np.nan, 38.8], "activity": [120.0, 24.0, 7.0], "ph": [np.nan] * 3,
        "interval_s": [7200, 7200, 600],
    })
    spread = spread_intervals(readings)
    assert len(spread) == 12 + 12 + 1
    b = bucketize_bolus(readings)
    collar = b[b["animal_id"] == 1]
    # every 10-minute bucket of the 4 hours holds activity, at the rate of its reading
    assert len(collar) == 24 and collar["bucket"].diff().dropna().eq(pd.Timedelta(minutes=10)).all()
    assert collar["activity"].iloc[:12].eq(10.0).all() and collar["activity"].iloc[12:].eq(2.0).all()
    assert collar["activity"].sum() == pytest.approx(144.0)  # 2 h sums give back the readings
    assert collar["n_readings"].sum() == pytest.approx(2.0)  # two readings, not 24, not 2 buckets
    bolus = b[b["animal_id"] == 2]
    assert bolus[["activity", "n_readings"]].values.tolist() == [[7.0, 1.0]]  # a bolus is unchanged


@pytest.fixture(scope="module")
def collar_herd(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("collar")
    url = f"sqlite:///{d / 'herd.db'}"
    upgrade_herd_db(url)
    engine = make_engine(url)
    store = open_sensor_store(f"sqlite:///{d / 'sensors.db'}")
    store.ensure_schema()
    data = bovheat_dir() / "weekly"
    import_paths([data / "February 4 2019.xlsx", data / "February 11 2019.xlsx"], farm="collar",
                 store=store, engine=engine)
    yield store, engine, FeatureFiles(str(d / "features"))
    store.close()
    engine.dispose()


def test_collar_features_are_continuous_on_the_ten_minute_grid(collar_herd) -> None:  # type: ignore[no-untyped-def]
    store, engine, files = collar_herd
    records = load_herd_records(engine)
    start = pd.Timestamp("2019-02-08T00:00Z")
    feats = window_features(store, records, files, start, start + pd.Timedelta(hours=6))
    assert feats["bucket_start"].nunique() == 36 and feats["animal_id"].nunique() > 70
    stored = store.read_bolus(start, start + pd.Timedelta(hours=6))
    cow = int(stored.groupby("animal_id").size().idxmax())
    one = feats[feats["animal_id"] == cow].sort_values("bucket_start")
    # 3 two-hour readings -> 36 buckets with activity; the 2 h mean is the reading's rate
    assert one["activity"].notna().all() and (one["activity_missing"] == 0).all()
    first = stored[stored["animal_id"] == cow].iloc[0]
    assert one["activity"].iloc[:12].eq(first["activity"] / 12).all()
    assert one["activity_mean_2h"].iloc[11] == pytest.approx(first["activity"] / 12)
    # temperature is missing, not invented
    assert one["temp_raw"].isna().all() and (one["temp_missing"] == 1).all()


def test_use_cases_declare_signals_and_skip_a_collar_herd(collar_herd) -> None:  # type: ignore[no-untyped-def]
    _store, engine, _files = collar_herd
    animals = load_herd_records(engine).animals
    gates = {uc.name: signal_gate(uc, animals) for uc in all_use_cases()}
    assert {n: uc.required_signals for n, uc in ((u.name, u) for u in all_use_cases())} == {
        "heat": ("activity",), "calving": ("temperature",), "fever": ("temperature",)}
    heat_ids, heat_reason = gates["heat"]
    assert heat_reason is None and len(heat_ids) == len(animals)
    for name in ("calving", "fever"):
        ids, reason = gates[name]
        assert len(ids) == 0 and "temperature" in reason and "collar_activity" in reason
