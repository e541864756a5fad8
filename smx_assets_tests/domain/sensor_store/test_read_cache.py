"""The InfluxDB store's per-bucket read cache returns exactly what a full read returns.

Real server; each case compares the cached store's frame with a store without cache after
the data changed behind the cache: late readings (with ``received_at`` in the past), a
corrected value, pH added, a new animal, a torn cache file, a second process on the folder.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smx_assets.devtools.influx_server import InfluxServer
from smx_assets.domain.sensor_store import read_cache
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore

pytestmark = pytest.mark.influx

T0 = pd.Timestamp("2025-03-01", tz="UTC")
B = pd.Timedelta(minutes=10)
START, END = T0, T0 + 36 * B  # a 6 h window of whole buckets


def readings(animals: range, start: pd.Timestamp, n_buckets: int, *, offset_s: int = 61,
             temp: float = 38.5, ph: bool = False, received_at: pd.Timestamp | None = None) -> pd.DataFrame:
    rows = [(a, start + k * B + pd.Timedelta(seconds=offset_s + a)) for a in animals for k in range(n_buckets)]
    frame = pd.DataFrame({
        "animal_id": np.array([r[0] for r in rows], dtype="int64"),
        "ts": pd.to_datetime([r[1] for r in rows], utc=True),
        "temp_c": temp + np.arange(len(rows)) % 7 * 0.01,
        "activity": 10.0 + np.arange(len(rows)) % 5,
        "ph": np.where(ph, 6.1, np.nan) * np.ones(len(rows)),
    })
    if received_at is not None:
        frame["received_at"] = received_at
    return frame


@pytest.fixture
def stores(influx_server: InfluxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[tuple[InfluxSensorStore, InfluxSensorStore, Path]]:
    monkeypatch.setattr(read_cache, "CLOCK_SLACK_S", 0)  # one server, one clock: no slack needed
    url = influx_server.url_with(database=f"t_{uuid.uuid4().hex[:12]}")
    plain = open_sensor_store(url)
    cached = open_sensor_store(f"{url}?read_cache={tmp_path / 'cache'}")
    assert isinstance(plain, InfluxSensorStore) and isinstance(cached, InfluxSensorStore)
    assert cached.read_cache is not None and plain.read_cache is None
    plain.ensure_schema()
    plain.write_bolus(readings(range(1, 21), START, 36, received_at=T0))
    time.sleep(1.1)  # markers have one-second resolution: fetch strictly after the first write
    yield plain, cached, tmp_path / "cache"
    plain.close()
    cached.close()


def same(plain: InfluxSensorStore, cached: InfluxSensorStore, start: pd.Timestamp = START,
         end: pd.Timestamp = END) -> pd.DataFrame:
    got = cached.read_bolus(start, end)
    pd.testing.assert_frame_equal(got, plain.read_bolus(start, end))
    return got


def fetched(cached: InfluxSensorStore, what: str = "stale_buckets") -> int:
    """Buckets (or with ``what="stale_shard_buckets"`` bucket x shard pairs) the last read fetched."""
    assert cached.read_cache is not None
    return int(cached.read_cache.last_stats[what])


def test_cold_then_warm_reads_equal_full_reads(stores: tuple) -> None:
    plain, cached, _ = stores
    frame = same(plain, cached)
    assert len(frame) == 20 * 36 and fetched(cached) == 36
    assert frame["ph"].isna().all() and str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    same(plain, cached)
    assert fetched(cached) == 0  # nothing written since: served from the files


def test_late_readings_with_past_received_at_are_seen(stores: tuple) -> None:
    plain, cached, _ = stores
    same(plain, cached)
    # late readings of two old buckets, claiming an arrival long before the cache's fetch
    late = readings(range(1, 4), START + 5 * B, 2, offset_s=300, received_at=T0)
    plain.write_bolus(late)
    frame = same(plain, cached)
    assert len(frame) == 20 * 36 + len(late)
    assert fetched(cached) == 2  # only the two touched buckets, and there only the 3 animals' shards
    assert fetched(cached, "stale_shard_buckets") == 6


def test_corrections_ph_and_new_animals_are_seen(stores: tuple) -> None:
    plain, cached, _ = stores
    same(plain, cached)
    plain.write_bolus(readings(range(1, 3), START + 30 * B, 1, temp=40.0, received_at=T0))  # same keys, new values
    plain.write_bolus(readings(range(5, 6), START + 10 * B, 1, ph=True))  # pH added to a stored reading
    plain.write_bolus(readings(range(100, 102), START + 20 * B, 3))  # a new animal mid-window
    frame = same(plain, cached)
    assert frame.loc[frame["animal_id"] == 5, "ph"].notna().sum() == 1
    assert (frame.loc[frame["animal_id"] == 1, "temp_c"] >= 40.0).sum() == 1
    # a bucket written in the second of its fetch is (safely) fetched once more: one second
    # later it is fetched again and from then on served from its file
    time.sleep(1.1)
    same(plain, cached)
    assert 0 < fetched(cached) <= 5
    same(plain, cached)
    assert fetched(cached) == 0


def test_new_window_fetches_only_the_new_bucket(stores: tuple) -> None:
    plain, cached, _ = stores
    same(plain, cached)
    plain.write_bolus(readings(range(1, 21), END, 1))  # the next bucket arrives
    same(plain, cached, START + B, END + B)
    assert fetched(cached) == 1


def test_second_process_and_torn_files(stores: tuple, influx_server: InfluxServer) -> None:
    plain, cached, folder = stores
    same(plain, cached)
    files = sorted(folder.rglob("*.npz"))
    assert len(files) == 36
    files[3].write_bytes(b"not a numpy file")  # torn / foreign: refetched, never trusted
    other = open_sensor_store(f"{plain.base_url.replace('http', 'influxdb')}/{plain.database}"
                              f"?read_cache={folder}")  # a fresh process on the same folder
    try:
        pd.testing.assert_frame_equal(other.read_bolus(START, END), plain.read_bolus(START, END))
        assert fetched(other) == 1  # type: ignore[arg-type]
    finally:
        other.close()


def test_partial_buckets_and_id_filters_bypass_the_cache(stores: tuple) -> None:
    plain, cached, _ = stores
    start, end = START + pd.Timedelta(minutes=3), END - pd.Timedelta(minutes=7)
    pd.testing.assert_frame_equal(cached.read_bolus(start, end), plain.read_bolus(start, end))
    pd.testing.assert_frame_equal(cached.read_bolus(START, END, [2, 3]), plain.read_bolus(START, END, [2, 3]))
    assert cached.read_cache is not None and cached.read_cache.last_stats == {}


def test_shard_regex_selects_ids_by_their_last_two_digits() -> None:
    import re

    from smx_assets.domain.sensor_store.influx_store import _shard_regex

    for shards in ({0}, {7}, {10, 99}, {0, 5, 42}, set(range(100))):
        rx = re.compile(_shard_regex(frozenset(shards)))
        assert [i for i in range(0, 20_000) if rx.match(str(i))] == [i for i in range(20_000) if i % 100 in shards]


def test_chunk_reads_of_many_animals_go_through_the_cache_and_equal_full_reads(
        stores: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scoring chunk (a large id set) is served by the cache, validated for all animals and
    filtered to the chunk; a late reading of an animal in the chunk is seen."""
    from smx_assets.domain.sensor_store import influx_store

    plain, cached, _ = stores
    monkeypatch.setattr(influx_store, "READ_ALL_ABOVE_IDS", 3)  # chunks of 5 count as "large"
    same(plain, cached)  # fill the cache
    plain.write_bolus(readings(range(7, 9), START + 3 * B, 2, offset_s=300, temp=39.9, received_at=T0))
    time.sleep(1.1)
    for chunk in (range(1, 6), range(6, 11), range(11, 16), range(16, 23)):  # 21, 22: no readings at all
        ids = list(chunk)
        got = cached.read_bolus(START, END, animal_ids=ids)
        assert cached.read_cache is not None and cached.read_cache.last_stats["buckets"] == 36  # the cache answered
        pd.testing.assert_frame_equal(got, plain.read_bolus(START, END, animal_ids=ids))
        assert set(got["animal_id"]) == set(ids) & set(range(1, 21))
    assert (cached.read_bolus(START, END, animal_ids=list(range(6, 11)))["temp_c"] >= 39.9).sum() == 4


def test_concurrent_cold_readers_fetch_a_bucket_once(stores: tuple, influx_server: InfluxServer) -> None:
    """The shard runs of one bucket start together on the same cache folder: only the first asks
    InfluxDB for the missing buckets, the others wait and read its files (same answer)."""
    import threading

    plain, cached, folder = stores
    other = open_sensor_store(f"{plain.base_url.replace('http', 'influxdb')}/{plain.database}?read_cache={folder}")
    calls: list[int] = []
    for s in (cached, other):
        real = s._read_bolus_shards

        def slow(ranges, real=real):  # type: ignore[no-untyped-def]
            calls.append(len(ranges))
            time.sleep(0.5)  # both readers are inside read() while the first fetches
            return real(ranges)

        s._read_bolus_shards = slow  # type: ignore[method-assign]
    results: dict[int, pd.DataFrame] = {}
    threads = [threading.Thread(target=lambda k=k, s=s: results.__setitem__(k, s.read_bolus(START, END)))
               for k, s in enumerate((cached, other))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(calls) == 1
        expected = plain.read_bolus(START, END)
        for k in (0, 1):
            pd.testing.assert_frame_equal(results[k], expected)
    finally:
        other.close()


def test_prefetch_fills_the_window_and_short_reads_equal_long_ones(stores: tuple) -> None:
    plain, cached, _ = stores
    same(plain, cached)
    plain.write_bolus(readings(range(1, 21), END, 1))  # the next bucket arrives
    time.sleep(1.1)  # markers have one-second resolution
    with cached.prefetch(START + B, END + B):  # what a ten-minute run does around its set-up
        pass
    same(plain, cached, START + B, END + B)
    assert fetched(cached) == 0  # the prefetch already fetched the new bucket
    # a short read (one series, the id tag as a column) holds the same rows as a long (grouped) one
    long = plain.read_bolus(START, END + B)
    short = plain.read_bolus(END - 2 * B, END + B)
    assert len(short) == 20 * 3
    pd.testing.assert_frame_equal(short, long[long["ts"] >= END - 2 * B].reset_index(drop=True))


def test_new_bucket_is_fetched_as_parallel_requests_equal_to_one(stores: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new bucket (a short all-animal range) goes as ``FETCH_SPLIT`` requests over halves of
    the shards, side by side; together they hold exactly the rows of one request."""
    import threading

    from smx_assets.domain.sensor_store import influx_store

    plain, cached, _ = stores
    same(plain, cached)
    plain.write_bolus(readings([*range(1, 21), *range(150, 160)], END, 1))  # shards 1-20 and 50-59: both halves
    time.sleep(1.1)
    calls: list[tuple[str, str]] = []
    real_query = influx_store.InfluxSensorStore._query

    def spy(self: InfluxSensorStore, q: str, **kw: object) -> Iterator[dict]:
        if q.startswith("SELECT \"animal_id\""):
            calls.append((threading.current_thread().name, q))
        return real_query(self, q, **kw)

    monkeypatch.setattr(influx_store.InfluxSensorStore, "_query", spy)
    s, e = int(END.timestamp()), int((END + B).timestamp())
    ids2, vals2 = cached._read_bolus_shards([(s, e, None)])
    assert len(calls) == 2 and all(name.startswith("smx-read") for name, _ in calls)
    assert {"=~" in q for _, q in calls} == {True}
    monkeypatch.setattr(influx_store, "FETCH_SPLIT", 1)
    ids1, vals1 = cached._read_bolus_shards([(s, e, None)])
    assert len(calls) == 3 and "=~" not in calls[2][1]
    o1, o2 = np.lexsort((vals1[:, 0], ids1)), np.lexsort((vals2[:, 0], ids2))
    assert len(ids1) == 30 and sorted(set(ids2 % 100 // 50)) == [0, 1]
    np.testing.assert_array_equal(ids2[o2], ids1[o1])
    np.testing.assert_array_equal(vals2[o2], vals1[o1])
    monkeypatch.setattr(influx_store, "FETCH_SPLIT", 2)
    same(plain, cached, START + B, END + B)  # and through the cache, as a ten-minute run reads it
