"""Writing a simulated herd into a real SQLite herd DB and sensor store; live mode."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.live import live_step, load_state, save_state
from smx_assets.domain.simulator.loader import load, write_herd, write_readings
from smx_assets.domain.sql_engine import make_engine

CFG = SimConfig(n_animals=20, days=3, seed=3, start=dt.date(2024, 5, 20))
TABLES = ["farms", "climate_sensors", "animals", "housing_periods", "lactations", "inseminations",
          "treatments", "gt_events"]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


class RecordingStore:
    """Collects what is written, so tests see exactly what a writer passed on."""

    url_for_display = "memory://"

    def __init__(self) -> None:
        self.bolus: list[pd.DataFrame] = []
        self.climate: list[pd.DataFrame] = []

    def write_bolus(self, frame: pd.DataFrame) -> int:
        self.bolus.append(frame)
        return len(frame)

    def write_climate(self, frame: pd.DataFrame) -> int:
        self.climate.append(frame)
        return len(frame)


def passthrough(frame: pd.DataFrame, store: Any, engine: Engine, now: pd.Timestamp) -> int:
    """Stand-in for ingestion validation that keeps every raw row (artefacts included)."""
    return store.write_bolus(frame)


def passthrough_climate(frame: pd.DataFrame, store: Any, engine: Engine, now: pd.Timestamp) -> int:
    return store.write_climate(frame)


def test_write_herd_twice_leaves_no_duplicates(engine: Engine) -> None:
    herd = simulate(CFG, readings=False)
    first = write_herd(herd, engine)
    assert _counts(engine) == first
    assert first["animals"] == CFG.n_animals and first["gt_events"] > 0 and first["lactations"] > 0
    write_herd(herd, engine)
    assert _counts(engine) == first
    # a smaller herd on the same farms replaces the bigger one entirely
    smaller = simulate(dataclasses.replace(CFG, n_animals=10, seed=4), readings=False)
    write_herd(smaller, engine)
    assert _counts(engine)["animals"] == 10
    with engine.connect() as conn:
        orphans = conn.execute(sa.text(
            "SELECT COUNT(*) FROM gt_events WHERE animal_id NOT IN (SELECT id FROM animals)")).scalar_one()
    assert orphans == 0


def test_write_herd_only_records_known_by_as_of(engine: Engine) -> None:
    herd = simulate(CFG, readings=False)
    as_of = CFG.end_ts
    write_herd(herd, engine, as_of=as_of)
    naive = as_of.tz_localize(None).to_pydatetime()
    with engine.connect() as conn:
        late_lact = conn.execute(sa.text("SELECT COUNT(*) FROM lactations WHERE recorded_at > :t"), {"t": naive})
        assert late_lact.scalar_one() == 0
        checks = conn.execute(sa.text(
            "SELECT COUNT(*) FROM inseminations WHERE pregnancy_check_at > :t"), {"t": naive}).scalar_one()
        assert checks == 0
        unknown = conn.execute(sa.text("SELECT COUNT(*) FROM inseminations WHERE pregnant IS NULL")).scalar_one()
        known = conn.execute(sa.text("SELECT COUNT(*) FROM inseminations WHERE pregnant IS NOT NULL")).scalar_one()
        future_gt = conn.execute(sa.text("SELECT COUNT(*) FROM gt_events WHERE start > :t"), {"t": naive}).scalar_one()
    assert unknown > 0 and known > 0  # recent inseminations await their pregnancy check
    assert future_gt == 0
    assert (herd.gt_events["start"] > as_of).any()  # the frames do hold the future


def test_readings_written_in_chunks_in_arrival_order(engine: Engine) -> None:
    herd = simulate(CFG)
    store = RecordingStore()
    write_readings(herd.bolus, store, engine, CFG.end_ts, writer=passthrough, chunk_rows=1000)  # type: ignore[arg-type]
    assert store.bolus and max(len(f) for f in store.bolus) == 1000
    written = pd.concat(store.bolus)
    assert len(written) == (herd.bolus["received_at"] < CFG.end_ts).sum()
    assert written["received_at"].is_monotonic_increasing
    assert written.duplicated().any() and (written["temp_c"] == 0.0).any()  # raw artefacts go to validation


def test_live_mode_delivers_what_batch_would_have(engine: Engine) -> None:
    """One hour live (6 steps) == the batch herd's readings arriving in that hour."""
    longer = simulate(dataclasses.replace(CFG, days=CFG.days + 1))
    write_herd(longer, engine, as_of=CFG.end_ts)
    save_state(engine, CFG, CFG.end_ts)
    store = RecordingStore()
    outs = [live_step(engine, store, bolus_writer=passthrough, climate_writer=passthrough_climate)  # type: ignore[arg-type]
            for _ in range(6)]
    until = CFG.end_ts + pd.Timedelta(hours=1)
    assert load_state(engine)[1] == until
    assert outs[-1]["until"] == until and sum(o["late_bolus"] for o in outs) > 0
    # Each delivery is stamped with the wall-clock time it reached the store, not farm time.
    for out, frame in zip(outs, store.bolus):
        assert (frame["received_at"] == out["received_at"]).all()
    assert outs[0]["received_at"] > until
    keys = ["animal_id", "ts", "temp_c"]
    got = pd.concat(store.bolus).drop(columns="received_at").sort_values(keys, kind="stable").reset_index(drop=True)
    b = longer.bolus
    want = b[(b["received_at"] >= CFG.end_ts) & (b["received_at"] < until)].drop(columns="received_at")
    want = want.sort_values(keys, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert (got["ts"] < CFG.end_ts).any()  # late readings from the batch window arrive now
    assert len(pd.concat(store.climate)) > 0


def test_live_mode_keeps_to_the_wall_clock(engine: Engine) -> None:
    """Never ahead of the clock, never backwards: steps past ``now`` are not delivered."""
    herd = simulate(CFG, readings=False)
    write_herd(herd, engine, as_of=CFG.end_ts)
    save_state(engine, CFG, CFG.end_ts)
    store = RecordingStore()
    now = CFG.end_ts + pd.Timedelta(minutes=35)  # three whole buckets after the position
    out = live_step(engine, store, steps=500, bolus_writer=passthrough,  # type: ignore[arg-type]
                    climate_writer=passthrough_climate, now=now)
    assert out["steps_delivered"] == 3 and out["until"] == CFG.end_ts + pd.Timedelta(minutes=30)
    assert pd.concat(store.bolus)["ts"].max() < now
    again = live_step(engine, store, steps=5, bolus_writer=passthrough,  # type: ignore[arg-type]
                      climate_writer=passthrough_climate, now=now)
    assert again["steps_delivered"] == 0 and load_state(engine)[1] == out["until"]
    with pytest.raises(ValueError, match="never moves backwards"):
        live_step(engine, store, steps=-3, now=now)
    assert load_state(engine)[1] == out["until"]


def test_live_mode_records_new_farm_events(engine: Engine) -> None:
    """Records entered during live steps appear in the herd DB without duplicates."""
    herd = simulate(CFG, readings=False)
    before = write_herd(herd, engine, as_of=CFG.end_ts)
    save_state(engine, CFG, CFG.end_ts)
    live_step(engine, RecordingStore(), steps=6 * 24 * 5, bolus_writer=passthrough,  # type: ignore[arg-type]
              climate_writer=passthrough_climate)
    counts = _counts(engine)
    assert counts["gt_events"] > before["gt_events"] and counts["inseminations"] >= before["inseminations"]
    with engine.connect() as conn:
        live_rows = {t: conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY id")).all() for t in TABLES}
    write_herd(herd.herd, engine, as_of=CFG.end_ts + pd.Timedelta(days=5))  # batch view of that moment
    assert _counts(engine) == counts
    with engine.connect() as conn:
        for t in TABLES:
            assert conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY id")).all() == live_rows[t], t


def test_load_with_real_validation_and_sql_store(engine: Engine, tmp_path: Path) -> None:
    from smx_assets.domain.sensor_store.factory import open_sensor_store

    store: SensorStore = open_sensor_store(f"sqlite:///{tmp_path / 'sensors.db'}")
    store.ensure_schema()
    herd = simulate(CFG)
    load(herd, engine, store)
    load(herd, engine, store)  # rerun: same rows, rejections replaced (deterministic batch ids)
    stored = store.read_bolus(CFG.start_ts, CFG.end_ts)
    arrived = herd.bolus[herd.bolus["received_at"] < CFG.end_ts]
    with engine.connect() as conn:
        reasons = dict(conn.execute(sa.text(
            "SELECT reason, COUNT(*) FROM rejected_readings WHERE source = 'bolus' GROUP BY reason")).all())
    assert reasons.get("out_of_range", 0) == (arrived["temp_c"].isin([0.0, 98.98]) | (arrived["ph"] > 14)).sum()
    assert reasons.get("duplicate", 0) == arrived.duplicated().sum()
    assert len(stored) + sum(reasons.values()) == len(arrived)
    assert stored["temp_c"].between(28, 44).all()
    store.close()


def test_cli_batch_then_live(smx_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from smx_assets.cli import main
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.settings import Settings

    assert main(["simulate", "--animals", "6", "--days", "2", "--seed", "9", "--start", "2024-06-01"]) == 0
    assert main(["simulate", "--live", "--steps", "3"]) == 0
    assert "live: 2024-06-03 00:00:00+00:00 -> 2024-06-03 00:30:00+00:00" in capsys.readouterr().out
    settings = Settings.from_env()
    engine = make_engine(settings.herd_db_url)
    assert _counts(engine)["animals"] == 6
    assert load_state(engine)[1] == pd.Timestamp("2024-06-03 00:30", tz="UTC")
    engine.dispose()
    store = open_sensor_store(settings.sensor_store_url)
    stored = store.read_bolus(pd.Timestamp("2024-06-01", tz="UTC"), pd.Timestamp("2024-06-04", tz="UTC"))
    store.close()
    assert stored["ts"].max() >= pd.Timestamp("2024-06-03 00:10", tz="UTC")
    assert 0.9 * 6 * 2 * 144 < len(stored) < 6 * (2 * 144 + 4)


def test_farmer_feedback_shares_delays_and_idempotent_write(engine: Engine) -> None:
    from smx_assets.domain.simulator.feedback import farmer_feedback, write_feedback

    herd = simulate(dataclasses.replace(CFG, n_animals=200, days=30), readings=False)
    write_herd(herd, engine)
    gt = herd.gt_events
    heats = gt[(gt["kind"] == "heat") & (gt["start"] >= CFG.start_ts)].head(400)
    true_alerts = pd.DataFrame({"use_case": "heat", "animal_id": heats["animal_id"].to_numpy(),
                                "bucket_start": (heats["start"] + pd.Timedelta(hours=2)).dt.floor("10min").to_numpy()})
    false_alerts = pd.DataFrame({"use_case": "heat", "animal_id": heats["animal_id"].to_numpy(),
                                 "bucket_start": (heats["start"] + pd.Timedelta(days=10)).dt.floor("10min").to_numpy()})
    alerts = pd.concat([true_alerts, false_alerts], ignore_index=True)
    alerts["bucket_start"] = pd.to_datetime(alerts["bucket_start"], utc=True)
    alerts["id"] = np.arange(1, len(alerts) + 1)
    fb = farmer_feedback(alerts, gt, seed=1)
    n = len(true_alerts)
    true_fb, false_fb = fb.iloc[:n], fb.iloc[n:]
    assert 0.72 <= (true_fb["verdict"] == "confirmed").mean() <= 0.88
    assert 0.01 <= (false_fb["verdict"] == "confirmed").mean() <= 0.10
    delay = (fb["given_at"] - alerts["bucket_start"]) / pd.Timedelta(days=1)
    assert delay.between(0.5, 2.0).all()
    pd.testing.assert_frame_equal(fb, farmer_feedback(alerts, gt, seed=1))

    now = pd.Timestamp("2024-06-01", tz="UTC")
    with engine.begin() as conn:  # alerts the platform would have raised
        conn.execute(sa.text(
            "INSERT INTO alerts (id, use_case, animal_id, bucket_start, score, threshold, model_name, model_version,"
            " code_version, partition_key, created_at) VALUES (:id, 'heat', :a, :b, 0.9, 0.5, 'm', '1', 'c', 'p', :b)"),
            [{"id": int(r.id), "a": int(r.animal_id), "b": r.bucket_start.tz_localize(None).to_pydatetime()}
             for r in alerts.itertuples()])
    first = write_feedback(fb, engine, as_of=now)
    assert 0 < first < len(fb)  # feedback after ``now`` has not arrived yet
    assert write_feedback(fb, engine, as_of=now) == first
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM feedback")).scalar_one() == first


def test_a_one_farm_herd_loads(engine: Engine) -> None:
    """One farm never changes housing, so no housing period has an end: that must still load."""
    herd = simulate(dataclasses.replace(CFG, n_farms=1), readings=False)
    assert herd.housing_periods["end"].isna().all()
    write_herd(herd, engine, as_of=CFG.end_ts)
    with engine.connect() as conn:
        ended = conn.execute(sa.text("SELECT COUNT(*) FROM housing_periods WHERE \"end\" IS NOT NULL")).scalar_one()
        periods = conn.execute(sa.text("SELECT COUNT(*) FROM housing_periods")).scalar_one()
    assert periods == CFG.n_animals and ended == 0
