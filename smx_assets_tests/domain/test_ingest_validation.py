"""Ingestion validation: each rejection reason, exact counts, stored rejections, nothing lost."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.ingest_validation import (
    store_rejections,
    validate_and_write_bolus,
    validate_and_write_climate,
    validate_bolus,
    validate_climate,
)
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine

NOW = pd.Timestamp("2025-03-01 12:00", tz="UTC")
KNOWN = {1, 2, 3}


def raw(rows: list[dict]) -> pd.DataFrame:
    base = {"animal_id": 1, "ts": "2025-03-01T11:00:00Z", "temp_c": 39.0, "activity": 10.0, "ph": np.nan}
    return pd.DataFrame([{**base, **r} for r in rows])


def reasons(frame: pd.DataFrame) -> list[str]:
    result = validate_bolus(frame, KNOWN, NOW)
    assert len(result.valid) + len(result.rejected) == len(frame)  # nothing dropped silently
    return result.rejected["reason"].tolist()


def test_clean_readings_pass_in_store_format() -> None:
    result = validate_bolus(raw([{}, {"animal_id": 2, "ph": 6.2, "temp_c": 30.5}]), KNOWN, NOW)
    assert result.rejected.empty
    v = result.valid
    assert list(v.columns) == ["animal_id", "ts", "temp_c", "activity", "ph", "received_at"]
    assert str(v["animal_id"].dtype) == "int64" and str(v["ts"].dtype) == "datetime64[ns, UTC]"
    assert (v["received_at"] == NOW).all()  # default: the moment of ingestion


@pytest.mark.parametrize("row", [
    {"animal_id": "1' OR 1=1"}, {"animal_id": "abc"}, {"animal_id": 1.5}, {"animal_id": None},
    {"animal_id": True}, {"ts": "yesterday-ish"}, {"ts": None}, {"ts": 1740830400},
    {"temp_c": "hot"}, {"temp_c": np.nan}, {"temp_c": None}, {"activity": np.nan},
    {"activity": "x"}, {"ph": "acid"}, {"received_at": "not a time"},
])
def test_malformed(row: dict) -> None:
    frame = raw([{}, row])
    if frame["ts"].dtype != object:  # keep the column mixed like real input
        frame["ts"] = frame["ts"].astype(object)
    assert reasons(frame) == ["malformed"]


@pytest.mark.parametrize("row", [
    {"temp_c": 0.0}, {"temp_c": 98.98}, {"temp_c": 27.9}, {"temp_c": 44.1}, {"temp_c": np.inf},
    {"ph": 26.0}, {"ph": 3.9}, {"activity": -1.0}, {"activity": np.inf},
])
def test_out_of_range(row: dict) -> None:
    assert reasons(raw([{}, row])) == ["out_of_range"]


@pytest.mark.parametrize("row", [{"temp_c": 28.0}, {"temp_c": 44.0}, {"temp_c": 31.2},
                                 {"ph": 4.0}, {"ph": 8.0}, {"activity": 0.0}, {"animal_id": "2"}])
def test_edges_and_drinking_drops_are_valid(row: dict) -> None:
    assert reasons(raw([row])) == []


def test_future_allows_five_minutes_of_clock_skew() -> None:
    frame = raw([{"ts": "2025-03-01T12:04:59Z"}, {"ts": "2025-03-01T12:05:01Z", "animal_id": 2},
                 {"ts": "2025-03-02T00:00:00Z", "animal_id": 3}])
    assert reasons(frame) == ["future", "future"]


def test_unknown_animal() -> None:
    assert reasons(raw([{"animal_id": 99}, {"animal_id": 3}])) == ["unknown_animal"]


def test_exact_duplicates_keep_one_and_conflicts_keep_the_last() -> None:
    frame = raw([{}, {}, {}, {"animal_id": 2}, {"animal_id": 2, "temp_c": 39.5}])
    result = validate_bolus(frame, KNOWN, NOW)
    assert result.rejected["reason"].tolist() == ["duplicate", "duplicate", "conflict"]
    assert result.valid[["animal_id", "temp_c"]].values.tolist() == [[1.0, 39.0], [2.0, 39.5]]


def test_first_failing_reason_wins_and_rejected_rows_carry_payload() -> None:
    frame = raw([{"animal_id": 99, "temp_c": 0.0, "ts": "2025-03-01T11:00:00.5Z"}])
    result = validate_bolus(frame, KNOWN, NOW)
    rej = result.rejected.iloc[0]
    assert rej["reason"] == "out_of_range"
    assert rej["entity_ref"] == "99" and rej["ts_raw"] == "2025-03-01T11:00:00.5Z"
    assert rej["payload"]["temp_c"] == 0.0 and rej["payload"]["ph"] is None


def test_timezones_and_naive_timestamps_are_utc() -> None:
    frame = raw([{"ts": "2025-03-01T12:00:00+01:00"}, {"ts": "2025-03-01 10:00:00", "animal_id": 2}])
    v = validate_bolus(frame, KNOWN, NOW).valid
    assert v["ts"].tolist() == [pd.Timestamp("2025-03-01T11:00Z"), pd.Timestamp("2025-03-01T10:00Z")]


def test_climate_validation() -> None:
    frame = pd.DataFrame({
        "sensor_id": [1, 1, 2, 9, 1],
        "ts": ["2025-03-01T11:00Z", "2025-03-01T11:10Z", "2025-03-01T11:00Z", "2025-03-01T11:00Z", "bad"],
        "air_temp_c": [20.0, 70.0, 15.0, 15.0, 15.0],
        "rh_pct": [50.0, 50.0, 101.0, 50.0, 50.0],
    })
    result = validate_climate(frame, {1, 2}, NOW)
    assert result.rejected["reason"].tolist() == ["out_of_range", "out_of_range", "unknown_sensor", "malformed"]
    assert len(result.valid) == 1


def test_four_million_rows_validate_quickly() -> None:
    n = 4_000_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "animal_id": rng.integers(1, 1001, n),
        "ts": NOW - pd.to_timedelta(np.arange(n) % 4_000_000, unit="s"),
        "temp_c": rng.normal(39, 0.5, n),
        "activity": rng.gamma(2, 10, n),
        "ph": np.nan,
    })
    frame.loc[::1000, "temp_c"] = 98.98
    t0 = time.perf_counter()
    result = validate_bolus(frame, set(range(1, 1001)), NOW)
    elapsed = time.perf_counter() - t0
    assert len(result.rejected) == 4000 and len(result.valid) == n - 4000
    assert elapsed < 45, elapsed  # about 4 s on an idle 2-core machine, 11 s under load 5


# ----------------------------------------------------------------------- storing


@pytest.fixture
def herd_engine(tmp_path: Path) -> sa.Engine:
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    return make_engine(url)


def stored(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT source, batch_id, reason, entity_ref, ts_raw, payload "
                                   "FROM rejected_readings ORDER BY id"), conn)


def test_validate_and_write_counts_and_stores(herd_engine: sa.Engine, tmp_path: Path) -> None:
    store = open_sensor_store(f"sqlite:///{tmp_path / 'sensors.db'}")
    store.ensure_schema()
    frame = raw([{}, {"animal_id": 2}, {"animal_id": 2}, {"temp_c": 98.98, "animal_id": 3},
                 {"animal_id": "1' OR 1=1"}, {"animal_id": 77}, {"ts": "2030-01-01T00:00Z"}])
    report = validate_and_write_bolus(frame, store, herd_engine, NOW, batch_id="b1", known_animal_ids=KNOWN)
    assert (report.n_received, report.n_written, report.n_rejected) == (7, 2, 5)
    assert report.rejected_by_reason == {"duplicate": 1, "out_of_range": 1, "malformed": 1,
                                         "unknown_animal": 1, "future": 1}
    rows = stored(herd_engine)
    assert len(rows) == 5 and set(rows["source"]) == {"bolus"} and set(rows["batch_id"]) == {"b1"}
    assert "1' OR 1=1" in rows["entity_ref"].tolist()
    assert len(store.read_bolus(NOW - pd.Timedelta(days=1), NOW)) == 2

    # rerunning the same batch neither duplicates readings nor rejections
    validate_and_write_bolus(frame, store, herd_engine, NOW, batch_id="b1", known_animal_ids=KNOWN)
    assert len(stored(herd_engine)) == 5
    assert len(store.read_bolus(NOW - pd.Timedelta(days=1), NOW)) == 2


def test_known_ids_come_from_the_herd_db(herd_engine: sa.Engine, tmp_path: Path) -> None:
    with herd_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO farms (id, name, timezone, default_housing) VALUES (1, 'f', 'UTC', 'barn')"))
        conn.execute(sa.text("INSERT INTO animals (id, farm_id, ear_tag, birth_date, breed, bolus_type) "
                             "VALUES (1, 1, 'DE1', '2020-01-01', 'Holstein', 'temp_activity')"))
        conn.execute(sa.text("INSERT INTO climate_sensors (id, farm_id, location, name) VALUES (5, 1, 'barn', 's')"))
    store = open_sensor_store(f"sqlite:///{tmp_path / 'sensors.db'}")
    store.ensure_schema()
    report = validate_and_write_bolus(raw([{}, {"animal_id": 2}]), store, herd_engine, NOW)
    assert (report.n_written, report.rejected_by_reason) == (1, {"unknown_animal": 1})
    climate = pd.DataFrame({"sensor_id": [5, 6], "ts": ["2025-03-01T11:00Z"] * 2,
                            "air_temp_c": [10.0, 10.0], "rh_pct": [70.0, 70.0]})
    creport = validate_and_write_climate(climate, store, herd_engine, NOW)
    assert (creport.n_written, creport.rejected_by_reason) == (1, {"unknown_sensor": 1})
    assert stored(herd_engine)["source"].tolist() == ["bolus", "climate"]


def test_store_rejections_on_postgres(pg_url: str) -> None:
    upgrade_herd_db(pg_url)
    engine = make_engine(pg_url)
    result = validate_bolus(raw([{"temp_c": "NaN-ish"}, {"animal_id": 9}]), KNOWN, NOW)
    assert store_rejections(engine, result.rejected, "bolus", "pg1") == 2
    rows = stored(engine)
    assert sorted(rows["reason"]) == ["malformed", "unknown_animal"]
    engine.dispose()
