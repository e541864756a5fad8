"""Big InfluxDB writes go through the serialiser worker processes (``_lp_workers``): same result
as in-process, ph merge kept, and a dead worker falls back to in-process without losing rows."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.sensor_store import _lp_workers
from smx_assets.domain.sensor_store import influx_store as IS
from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore

pytestmark = pytest.mark.influx

T0 = pd.Timestamp("2025-03-01", tz="UTC")


def frame(n_animals: int, n_slots: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(1, n_animals + 1, dtype="int64"), n_slots)
    ts = T0 + pd.to_timedelta(np.tile(np.arange(n_slots) * 600, n_animals), unit="s")
    ph = np.where(ids % 10 == 0, np.round(6 + rng.random(len(ids)), 2), np.nan)
    return pd.DataFrame({
        "animal_id": ids, "ts": ts, "temp_c": np.round(38 + rng.random(len(ids)), 2),
        "activity": np.round(rng.random(len(ids)) * 50, 1), "ph": ph,
        "received_at": ts + pd.Timedelta(seconds=30),
    })


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    # several bodies and the worker path with a test-sized frame
    monkeypatch.setattr(IS, "WRITE_CHUNK", 700)
    monkeypatch.setattr(IS, "PARALLEL_MIN_ROWS", 1_000)


def test_big_write_through_workers_reads_back_exactly(store: InfluxSensorStore, small_pieces: None) -> None:
    data = frame(30, 144)  # 4,320 readings, 3 animals with pH
    calls: list[int] = []
    real = _lp_workers.WorkerPool.serialize

    def spy(self: _lp_workers.WorkerPool, pieces: list[pd.DataFrame], args: tuple) -> Iterator[tuple[bytes, int]]:
        calls.append(len(pieces))
        return real(self, pieces, args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_lp_workers.WorkerPool, "serialize", spy)
        assert store.write_bolus(data) == len(data)
    assert calls and calls[0] > 2  # the workers did serialise it, in several bodies
    got = store.read_bolus(T0, T0 + pd.Timedelta(days=1))
    want = data.drop(columns="received_at").sort_values(["animal_id", "ts"], ignore_index=True)
    want["interval_s"] = 600  # the default interval of a bolus reading
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # rewriting without pH keeps the stored pH (field merge), as in-process writes do
    assert store.write_bolus(data.assign(ph=np.nan)) == len(data)
    again = store.read_bolus(T0, T0 + pd.Timedelta(days=1))
    assert again["ph"].notna().sum() == want["ph"].notna().sum()


def test_dead_worker_falls_back_in_process(store: InfluxSensorStore, small_pieces: None) -> None:
    pool = _lp_workers.acquire_pool()
    assert pool is not None
    try:
        pool.workers[0].proc.kill()
        pool.workers[0].proc.wait()
    finally:
        _lp_workers.release_pool(pool)
    data = frame(20, 144)
    assert store.write_bolus(data) == len(data)
    assert len(store.read_bolus(T0, T0 + pd.Timedelta(days=1))) == len(data)
    # the broken pool was replaced: the next big write uses fresh workers
    fresh = _lp_workers.acquire_pool()
    assert fresh is not None and fresh is not pool
    _lp_workers.release_pool(fresh)
    assert store.write_bolus(frame(25, 144)) == 25 * 144
