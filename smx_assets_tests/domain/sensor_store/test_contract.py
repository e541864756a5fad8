"""One contract, three real backends: a SQLite file, the machine's PostgreSQL, a real InfluxDB.

Every behaviour the platform relies on (features, scoring, late-data re-scoring, ingestion) is
asserted here identically for each backend, so swapping ``SMX_SENSOR_STORE_URL`` cannot change
results.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.sensor_store import influx_store, sql_store
from smx_assets.domain.sensor_store.base import (
    BOLUS_COLUMNS,
    CHANGED_BUCKET_COLUMNS,
    CLIMATE_COLUMNS,
    SensorStore,
    SensorStoreError,
)
from smx_assets.domain.sensor_store.factory import open_sensor_store

T0 = pd.Timestamp("2025-03-01 00:00", tz="UTC")
H = pd.Timedelta(hours=1)
M10 = pd.Timedelta(minutes=10)


@pytest.fixture(params=["sqlite", "postgres", "influx"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SensorStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sensors.db'}"
    elif request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        server = request.getfixturevalue("influx_server")
        # a fresh database per test on the one session server: tests stay independent
        url = server.url_with(database=f"t_{uuid.uuid4().hex[:12]}")
    s = open_sensor_store(url)
    s.ensure_schema()
    try:
        yield s
    finally:
        s.close()


def bolus(rows: list[tuple], received_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """rows: (animal_id, ts, temp_c, activity, ph[, interval_s]); interval 600 s when not given."""
    rows = [tuple(r) + (600,) * (len(BOLUS_COLUMNS) - len(r)) for r in rows]
    frame = pd.DataFrame(rows, columns=BOLUS_COLUMNS)
    frame["interval_s"] = frame["interval_s"].astype("int64")
    frame["animal_id"] = frame["animal_id"].astype("int64")
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame[["temp_c", "activity", "ph"]] = frame[["temp_c", "activity", "ph"]].astype("float64")
    if received_at is not None:
        frame["received_at"] = received_at
    return frame


def grid(n_animals: int, n_buckets: int, start: pd.Timestamp = T0, first_id: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    ids = np.repeat(np.arange(first_id, first_id + n_animals), n_buckets)
    ts = start + pd.to_timedelta(np.tile(np.arange(n_buckets) * 600 + 61, n_animals), unit="s")
    n = n_animals * n_buckets
    return pd.DataFrame({
        "animal_id": ids.astype("int64"),
        "ts": pd.DatetimeIndex(ts),
        "temp_c": np.round(rng.normal(39, 0.3, n), 2),
        "activity": np.round(rng.gamma(2, 10, n), 1),
        "ph": np.where(ids % 10 == 0, np.round(rng.normal(6.2, 0.2, n), 2), np.nan),
        "interval_s": np.full(n, 600, dtype="int64"),
    })


# ----------------------------------------------------------------------- round trip


def test_round_trip_values_dtypes_and_utc(store: SensorStore) -> None:
    frame = bolus([
        (2, "2025-03-01T00:01:30Z", 38.0, 12.5, np.nan),   # 38.0 must stay a float (JSON: 38)
        (1, "2025-03-01T01:01:30+01:00", 39.12, 0.0, 6.25),  # offset input: same instant in UTC
        (1, "2025-03-01T00:11:30Z", 30.5, 3.0, np.nan),     # a drinking drop is a valid value
    ])
    assert store.write_bolus(frame) == 3
    got = store.read_bolus(T0, T0 + H)
    assert list(got.columns) == BOLUS_COLUMNS
    assert str(got["ts"].dtype) == "datetime64[ns, UTC]"
    assert got.dtypes.drop("ts").astype(str).to_dict() == {
        "animal_id": "int64", "temp_c": "float64", "activity": "float64", "ph": "float64",
        "interval_s": "int64"}
    expected = bolus([
        (1, "2025-03-01T00:01:30Z", 39.12, 0.0, 6.25),
        (1, "2025-03-01T00:11:30Z", 30.5, 3.0, np.nan),
        (2, "2025-03-01T00:01:30Z", 38.0, 12.5, np.nan),
    ])
    pd.testing.assert_frame_equal(got, expected)


def test_reads_are_half_open_and_sorted(store: SensorStore) -> None:
    frame = grid(3, 6)  # readings at T0+61s, +661s, ...
    store.write_bolus(frame.sample(frac=1, random_state=1))  # written in random order
    start, end = T0 + pd.Timedelta(seconds=661), T0 + pd.Timedelta(seconds=1861)
    got = store.read_bolus(start, end)
    assert len(got) == 3 * 2  # 661 and 1261 in, 1861 excluded
    assert got["ts"].min() == start and got["ts"].max() < end
    assert got.equals(got.sort_values(["animal_id", "ts"], ignore_index=True))


def test_animal_filter(store: SensorStore) -> None:
    store.write_bolus(grid(5, 3))
    got = store.read_bolus(T0, T0 + H, animal_ids=[2, 4, 99])
    assert sorted(got["animal_id"].unique()) == [2, 4]
    assert len(got) == 6
    assert store.read_bolus(T0, T0 + H, animal_ids=[]).empty


def test_many_ids_filter_matches_full_read(store: SensorStore) -> None:
    frame = grid(300, 2)
    store.write_bolus(frame)
    wanted = list(range(1, 301, 2)) + [5000]
    got = store.read_bolus(T0, T0 + H, animal_ids=wanted)
    full = store.read_bolus(T0, T0 + H)
    pd.testing.assert_frame_equal(got, full[full["animal_id"] % 2 == 1].reset_index(drop=True))


def test_empty_ranges_return_typed_empty_frames(store: SensorStore) -> None:
    got = store.read_bolus(T0, T0 + H)
    assert got.empty and list(got.columns) == BOLUS_COLUMNS
    assert str(got["ts"].dtype) == "datetime64[ns, UTC]"
    store.write_bolus(grid(2, 2))
    assert store.read_bolus(T0 + H, T0).empty  # end before start
    assert store.read_bolus(T0 + pd.Timedelta(seconds=61), T0 + pd.Timedelta(seconds=61)).empty
    assert store.read_climate(T0, T0 + H).empty
    changed = store.buckets_received_since(T0, T0 + 10 * H, T0 + 11 * H)
    assert changed.empty and list(changed.columns) == CHANGED_BUCKET_COLUMNS


# ------------------------------------------------------------------ write semantics


def test_idempotent_rewrite_leaves_one_reading(store: SensorStore) -> None:
    frame = grid(2, 3)
    store.write_bolus(frame)
    store.write_bolus(frame)
    store.write_bolus(pd.concat([frame, frame]))  # duplicates inside one batch, too
    assert len(store.read_bolus(T0, T0 + H)) == 6


def test_rewrite_overwrites_values_and_keeps_ph_when_missing(store: SensorStore) -> None:
    ts = "2025-03-01T00:05:00Z"
    store.write_bolus(bolus([(1, ts, 39.0, 10.0, 6.1), (2, ts, 39.0, 10.0, np.nan)]))
    store.write_bolus(bolus([(1, ts, 39.5, 11.0, np.nan), (2, ts, 38.5, 9.0, 5.9)]))
    got = store.read_bolus(T0, T0 + H).set_index("animal_id")
    # new temperature/activity win; a rewrite without pH keeps the stored pH (InfluxDB field
    # merge semantics, mirrored by the SQL store); a rewrite with pH sets it
    assert got.loc[1, ["temp_c", "activity", "ph"]].tolist() == [39.5, 11.0, 6.1]
    assert got.loc[2, ["temp_c", "activity", "ph"]].tolist() == [38.5, 9.0, 5.9]


def test_last_row_wins_within_a_batch(store: SensorStore) -> None:
    ts = "2025-03-01T00:05:00Z"
    store.write_bolus(bolus([(1, ts, 39.0, 1.0, np.nan), (1, ts, 39.4, 2.0, np.nan)]))
    got = store.read_bolus(T0, T0 + H)
    assert got[["temp_c", "activity"]].values.tolist() == [[39.4, 2.0]]


def test_nan_ph_round_trips_as_nan(store: SensorStore) -> None:
    frame = grid(10, 2)
    store.write_bolus(frame)
    got = store.read_bolus(T0, T0 + H)
    assert got["ph"].isna().sum() == 18
    assert got.loc[got["animal_id"] == 10, "ph"].notna().all()


def test_sub_second_timestamps_are_floored_to_the_second(store: SensorStore) -> None:
    store.write_bolus(bolus([(1, "2025-03-01T00:05:00.900Z", 39.0, 1.0, np.nan)]))
    assert store.read_bolus(T0, T0 + H)["ts"].tolist() == [pd.Timestamp("2025-03-01T00:05:00Z")]


def test_large_batch_over_chunk_size(store: SensorStore) -> None:
    n_buckets = 144
    frame = grid(150, n_buckets)  # 21,600 readings: over InfluxDB's 10k chunk and mixed pH
    assert store.write_bolus(frame) == len(frame)
    got = store.read_bolus(T0, T0 + pd.Timedelta(days=1))
    assert len(got) == len(frame)
    expected = frame.sort_values(["animal_id", "ts"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_index_type=False)


def test_climate_round_trip(store: SensorStore) -> None:
    frame = pd.DataFrame({
        "sensor_id": np.array([7, 3, 7], dtype="int64"),
        "ts": pd.to_datetime(["2025-03-01T00:10:00Z", "2025-03-01T00:10:00Z", "2025-03-01T00:00:00Z"]),
        "air_temp_c": [21.0, -3.5, 20.25],
        "rh_pct": [60.0, 80.0, 61.5],
    })
    assert store.write_climate(frame) == 3
    store.write_climate(frame)
    got = store.read_climate(T0, T0 + H)
    assert list(got.columns) == CLIMATE_COLUMNS
    assert got[["sensor_id", "air_temp_c"]].values.tolist() == [[3, -3.5], [7, 20.25], [7, 21.0]]
    assert store.read_climate(T0, T0 + H, sensor_ids=[3])["sensor_id"].tolist() == [3]


# ------------------------------------------------------------- late-data detection


def test_buckets_received_since(store: SensorStore) -> None:
    on_time = T0 + pd.Timedelta(hours=3)
    frame = grid(4, 6)
    frame["received_at"] = frame["ts"] + pd.Timedelta(minutes=1)
    store.write_bolus(frame)
    # two readings for buckets 1 and 4 (00:10, 00:40) arrive late, at 03:00 and 03:05
    late = bolus([(9, "2025-03-01T00:12:00Z", 39.0, 1.0, np.nan)], received_at=on_time)
    late2 = bolus([(9, "2025-03-01T00:45:00Z", 39.0, 1.0, np.nan)],
                  received_at=on_time + pd.Timedelta(minutes=5))
    store.write_bolus(late)
    store.write_bolus(late2)

    got = store.buckets_received_since(T0 + 2 * H, T0, T0 + H)
    assert list(got.columns) == CHANGED_BUCKET_COLUMNS
    assert got["bucket_start"].tolist() == [T0 + M10, T0 + 4 * M10]
    assert got["n_readings"].tolist() == [5, 5]  # all readings of the bucket, not only late ones
    assert got["last_received_at"].tolist() == [on_time, on_time + pd.Timedelta(minutes=5)]
    assert str(got["bucket_start"].dtype) == "datetime64[ns, UTC]"

    later = store.buckets_received_since(on_time + pd.Timedelta(minutes=1), T0, T0 + H)
    assert later["bucket_start"].tolist() == [T0 + 4 * M10]
    # strictly after: a reading received exactly at `since` is not "after"
    assert store.buckets_received_since(on_time + pd.Timedelta(minutes=5), T0, T0 + H).empty
    # window restricts buckets
    assert store.buckets_received_since(T0 + 2 * H, T0 + 3 * M10, T0 + H)["bucket_start"].tolist() == [
        T0 + 4 * M10]
    # everything since the beginning: all six buckets, with full counts
    every = store.buckets_received_since(T0 - H, T0, T0 + H)
    assert every["n_readings"].tolist() == [4, 5, 4, 4, 5, 4]


def test_read_as_known_at_leaves_out_later_arrivals(store: SensorStore) -> None:
    """``known_at``: the readings a scoring run at that time saw (``received_at <= known_at``),
    bolus and climate, with and without an id filter; later arrivals come back without it."""
    frame = grid(3, 6)
    frame["received_at"] = frame["ts"] + pd.Timedelta(minutes=1)
    store.write_bolus(frame)
    late = bolus([(2, "2025-03-01T00:13:00Z", 39.5, 2.0, np.nan)], received_at=T0 + 3 * H)
    store.write_bolus(late)
    climate = pd.DataFrame({"sensor_id": np.array([4, 4], dtype="int64"),
                            "ts": pd.to_datetime(["2025-03-01T00:00:00Z", "2025-03-01T00:10:00Z"]),
                            "air_temp_c": [10.0, 11.0], "rh_pct": [50.0, 51.0]})
    store.write_climate(climate)  # received when written (now)
    known = T0 + 2 * H
    assert len(store.read_bolus(T0, T0 + H)) == 19
    got = store.read_bolus(T0, T0 + H, known_at=known)
    assert len(got) == 18 and not ((got["animal_id"] == 2) & (got["temp_c"] == 39.5)).any()
    assert len(store.read_bolus(T0, T0 + H, animal_ids=[2], known_at=known)) == 6
    assert len(store.read_bolus(T0, T0 + H, animal_ids=[2], known_at=T0 + 3 * H)) == 7  # received at: included
    assert store.read_bolus(T0, T0 + H, known_at=T0).empty  # nothing had arrived yet
    assert store.read_climate(T0, T0 + H, known_at=known).empty
    now = pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=1)
    assert store.read_climate(T0, T0 + H, known_at=now)["air_temp_c"].tolist() == [10.0, 11.0]


def test_rewrite_with_later_received_at_marks_bucket_changed(store: SensorStore) -> None:
    frame = grid(2, 2)
    frame["received_at"] = T0 + H
    store.write_bolus(frame)
    assert store.buckets_received_since(T0 + 2 * H, T0, T0 + H).empty
    resent = frame.iloc[[0]].assign(received_at=T0 + 3 * H, temp_c=40.0)
    store.write_bolus(resent)
    got = store.buckets_received_since(T0 + 2 * H, T0, T0 + H)
    assert got["bucket_start"].tolist() == [T0] and got["n_readings"].tolist() == [2]


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("bad", ["1' OR 1=1", "1 OR animal_id =~ /.*/", '1"; DROP', 1.5, True, -1, None])
def test_crafted_animal_ids_are_rejected(store: SensorStore, bad: object) -> None:
    store.write_bolus(grid(3, 1))
    with pytest.raises(SensorStoreError):
        store.read_bolus(T0, T0 + H, animal_ids=[bad])  # type: ignore[list-item]
    assert len(store.read_bolus(T0, T0 + H)) == 3  # and nothing changed


def test_string_as_id_filter_is_rejected(store: SensorStore) -> None:
    with pytest.raises(SensorStoreError):
        store.read_bolus(T0, T0 + H, animal_ids="1")  # type: ignore[arg-type]


def test_numpy_integer_ids_are_accepted(store: SensorStore) -> None:
    store.write_bolus(grid(3, 1))
    assert len(store.read_bolus(T0, T0 + H, animal_ids=np.array([1, 3]))) == 2


def test_unbounded_range_is_refused(store: SensorStore) -> None:
    with pytest.raises(SensorStoreError):
        store.read_bolus(T0, None)  # type: ignore[arg-type]


def test_invalid_frames_are_refused_not_half_written(store: SensorStore) -> None:
    frame = grid(2, 2)
    frame.loc[1, ["temp_c", "activity", "ph"]] = np.nan  # a reading of nothing at all
    with pytest.raises(SensorStoreError, match="no value at all"):
        store.write_bolus(frame)
    bad_interval = grid(1, 1).assign(interval_s=0)
    with pytest.raises(SensorStoreError, match="interval_s"):
        store.write_bolus(bad_interval)
    text_ids = grid(1, 1).astype({"animal_id": object})
    text_ids.loc[0, "animal_id"] = "1' OR 1=1"
    with pytest.raises(SensorStoreError):
        store.write_bolus(text_ids)
    assert store.read_bolus(T0, T0 + H).empty


def test_activity_only_two_hour_readings_keep_their_interval(store: SensorStore) -> None:
    """A neck collar: activity every 2 hours, no temperature; the interval is stored with it."""
    frame = bolus([
        (7, "2025-03-01T00:00:00Z", np.nan, 32.0, np.nan, 7200),
        (7, "2025-03-01T02:00:00Z", np.nan, 17.0, np.nan, 7200),
        (8, "2025-03-01T00:00:00Z", 38.9, 4.0, np.nan),  # a bolus beside it
    ])
    assert store.write_bolus(frame) == 3
    got = store.read_bolus(T0, T0 + 4 * H)
    pd.testing.assert_frame_equal(got, frame)
    # a rewrite without a signal keeps the stored one (InfluxDB field merge, mirrored in SQL)
    store.write_bolus(bolus([(8, "2025-03-01T00:00:00Z", np.nan, 5.0, np.nan)]))
    again = store.read_bolus(T0, T0 + 4 * H)
    row = again[again["animal_id"] == 8].iloc[0]
    assert (row["temp_c"], row["activity"], row["interval_s"]) == (38.9, 5.0, 600)


def test_reading_span_is_first_and_last_reading(store: SensorStore) -> None:
    assert store.reading_span() is None
    store.write_bolus(bolus([(3, "2019-02-04T02:00:00Z", np.nan, 5.0, np.nan, 7200),
                             (1, "2019-01-28T00:00:00Z", np.nan, 9.0, np.nan, 7200)]))
    assert store.reading_span() == (pd.Timestamp("2019-01-28T00:00Z"), pd.Timestamp("2019-02-04T02:00Z"))


def test_url_for_display_hides_credentials() -> None:
    store = open_sensor_store("influxdb://admin:s3cret@127.0.0.1:1/db?token=tok123")
    assert "s3cret" not in store.url_for_display and "tok123" not in store.url_for_display
    assert "admin" in store.url_for_display
    sql = open_sensor_store("postgresql+psycopg2://u:pw123@127.0.0.1:5432/x")
    assert "pw123" not in sql.url_for_display


# --------------------------------------------------------- backend-specific checks


def test_backend_classes() -> None:
    assert isinstance(open_sensor_store("sqlite:///:memory:"), sql_store.SqlSensorStore)
    s = open_sensor_store("influxdbs://h:8443/db?verify_ssl=false")
    assert isinstance(s, influx_store.InfluxSensorStore)
    assert s.base_url == "https://h:8443" and s.session.verify is False
    tok = open_sensor_store("influxdb://h:8086/db?token=abc")
    assert tok.session.headers["Authorization"] == "Token abc"  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", ["mysql://x/y", "influxdb://h:1/", "influxdb://h:1/db?bogus=1", "nonsense"])
def test_unknown_or_bad_urls_raise_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        open_sensor_store(url)
