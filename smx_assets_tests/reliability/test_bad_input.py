"""Bad input through ingest validation into real stores (InfluxDB and SQL): every rejection is
counted and stored with a reason, valid readings in the same batch are never dropped, crafted
identifiers reach no query, and readings days late are accepted and re-scored."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.defs.scoring import sensors as scoring_sensors
from smx_assets.domain.ingest_validation import validate_and_write_bolus
from smx_assets.domain.sensor_store.base import SensorStoreError
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore
from smx_assets.domain.sensor_store.line_protocol import line_protocol
from smx_assets.domain.sensor_store.sql_store import SqlSensorStore
from smx_assets_tests.reliability.helpers import FMT, World, materialize_scores, predictions_of

NASTY_IDS = ["1' OR '1'='1", "1; DROP TABLE animals", 'a,b c"d\'e\nf=g\\h', "-1", "12abc", "", "1e3x"]


@pytest.fixture(params=["influxdb", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "influxdb":
        server = request.getfixturevalue("influx_server")
        s = open_sensor_store(server.url_with(database=f"bad_{uuid.uuid4().hex[:8]}"))
    else:
        s = open_sensor_store(f"sqlite:///{tmp_path / 'sensors.db'}")
    s.ensure_schema()
    yield s
    s.close()


def _batch(a1: int, a2: int, now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """A raw gateway batch: (raw, the valid rows as they must be stored, rejections by reason)."""
    m = pd.Timedelta(minutes=1)
    nan = float("nan")
    rows = [
        # -- valid (string numbers and string ids are fine when they parse exactly)
        (a1, now - 30 * m, 39.1, 20.0, nan),
        (a1, now - 20 * m, 39.2, 21.0, 6.1),
        (str(a2), (now - 30 * m).isoformat(), "39.3", 22.0, nan),
        (a2, now - pd.Timedelta(days=3), 38.9, 15.0, nan),         # three days late: accepted
        (a1, now - 10 * m, 30.5, 0.0, nan),                        # a drinking drop: kept
        (a2, now - 40 * m, 39.0, 10.0, nan),                       # conflict: the later row wins
        (a2, now - 40 * m, 39.4, 11.0, nan),
        (a1, now - 30 * m, 39.1, 20.0, nan),                       # exact resend: duplicate
        # -- rejected
        (a1, now - 50 * m, nan, 20.0, nan),                        # malformed: no temperature
        (a1, now - 51 * m, "abc", 20.0, nan),                      # malformed: string value
        (a1, now - 52 * m, 39.0, None, nan),                       # malformed: no activity
        (a1, "not a time", 39.0, 20.0, nan),                       # malformed: timestamp
        (a1, now - 53 * m, 1e308, 20.0, nan),                      # out_of_range
        (a1, now - 54 * m, float("-inf"), 20.0, nan),              # out_of_range
        (a1, now - 55 * m, 39.0, 1e308, nan),                      # out_of_range (activity)
        (a1, now - 56 * m, 39.0, float("inf"), nan),               # out_of_range
        (a1, now - 57 * m, 39.0, 20.0, 26.0),                      # out_of_range (pH artefact)
        (a1, now - 58 * m, 98.98, 20.0, nan),                      # out_of_range (spike)
        (a1, now + pd.Timedelta(hours=1), 39.0, 20.0, nan),        # future
        (987_654_321, now - 59 * m, 39.0, 20.0, nan),              # unknown_animal
    ] + [(bad, now - 60 * m, 39.0, 20.0, nan) for bad in NASTY_IDS]  # malformed ids
    raw = pd.DataFrame(rows, columns=["animal_id", "ts", "temp_c", "activity", "ph"])
    expected = pd.DataFrame(
        [(a1, now - 30 * m, 39.1, 20.0, nan), (a1, now - 20 * m, 39.2, 21.0, 6.1),
         (a2, now - 30 * m, 39.3, 22.0, nan), (a2, now - pd.Timedelta(days=3), 38.9, 15.0, nan),
         (a1, now - 10 * m, 30.5, 0.0, nan), (a2, now - 40 * m, 39.4, 11.0, nan)],
        columns=["animal_id", "ts", "temp_c", "activity", "ph"],
    )
    reasons = {"duplicate": 1, "conflict": 1, "malformed": 4 + len(NASTY_IDS), "out_of_range": 6,
               "future": 1, "unknown_animal": 1}
    return raw, expected, reasons


def test_bad_readings_are_rejected_with_reasons_and_valid_ones_all_stored(world: World, store) -> None:  # type: ignore[no-untyped-def]
    engine = world.sc.herd_db.engine()
    animals = sorted(int(a) for a in world.sc.herd.animals["id"])
    a1, a2 = animals[0], animals[1]
    now = pd.Timestamp.now(tz="UTC").floor("s")
    raw, expected, reasons = _batch(a1, a2, now)
    with engine.connect() as conn:
        n_animals = conn.execute(sa.text("SELECT count(*) FROM animals")).scalar_one()
    batch = f"bad-{uuid.uuid4().hex[:8]}"

    for _ in range(2):  # the gateway resends the whole batch: nothing doubles
        report = validate_and_write_bolus(raw, store, engine, now, batch_id=batch)
        assert report.n_received == len(raw) == report.n_written + report.n_rejected
        assert report.n_written == len(expected)
        assert report.rejected_by_reason == reasons

        stored = store.read_bolus(now - pd.Timedelta(days=4), now + pd.Timedelta(days=1), [a1, a2])
        want = expected.assign(ts=pd.to_datetime(expected["ts"], utc=True)).sort_values(["animal_id", "ts"])
        if "interval_s" in stored.columns:  # a bolus reading summarises its 10 minutes
            assert (stored["interval_s"] == 600).all()
        pd.testing.assert_frame_equal(stored[list(want.columns)].reset_index(drop=True), want.reset_index(drop=True),
                                      check_dtype=False)
        # Nothing else reached the store: no orphan series, no reading of the unknown animal.
        everything = store.read_bolus(now - pd.Timedelta(days=4), now + pd.Timedelta(days=1))
        assert set(everything["animal_id"]) == {a1, a2} and len(everything) == len(expected)

        with engine.connect() as conn:
            rej = pd.read_sql_query(sa.text("SELECT reason, entity_ref, payload FROM rejected_readings "
                                            "WHERE batch_id = :b"), conn, params={"b": batch})
        assert rej["reason"].value_counts().to_dict() == reasons
        # Crafted ids are stored verbatim as data (bound parameters), never executed.
        assert set(NASTY_IDS) - {""} <= set(rej["entity_ref"].dropna())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM animals")).scalar_one() == n_animals

    if isinstance(store, InfluxSensorStore):
        tags = [v[1] for r in store._query('SHOW TAG VALUES FROM "bolus" WITH KEY = "animal_id"')
                for s in r.get("series", []) for v in s["values"]]
        assert sorted(tags) == sorted([str(a1), str(a2)])


def test_stores_refuse_crafted_ids_before_any_query(store) -> None:  # type: ignore[no-untyped-def]
    """Callers that bypass validation still cannot inject: ids must be integers at the store."""
    t = pd.Timestamp("2026-09-02T10:01", tz="UTC")
    for bad in NASTY_IDS:
        frame = pd.DataFrame({"animal_id": [bad], "ts": [t], "temp_c": [39.0], "activity": [10.0], "ph": [np.nan]})
        with pytest.raises((SensorStoreError, ValueError)):
            store.write_bolus(frame)
        with pytest.raises((SensorStoreError, ValueError)):
            store.read_bolus(t, t + pd.Timedelta(minutes=10), [bad])
    assert store.read_bolus(t - pd.Timedelta(days=1), t + pd.Timedelta(days=1)).empty
    if isinstance(store, SqlSensorStore):
        with store.engine.connect() as conn:
            assert sa.inspect(conn).has_table("bolus_readings")


def test_line_protocol_escapes_tag_values_that_try_to_inject_points(influx_server) -> None:  # type: ignore[no-untyped-def]
    """Commas, spaces, quotes, '=' and newlines in a tag value stay inside that one point."""
    store = InfluxSensorStore(influx_server.http_url, f"lp_{uuid.uuid4().hex[:8]}")
    store.ensure_schema()
    evil = 'x,animal_id=666 temp_c=1\nbolus,animal_id=666 temp_c=99 1700000000 "q\' y'
    frame = pd.DataFrame({"probe": [evil], "v": [1.0]},
                         index=pd.DatetimeIndex([pd.Timestamp("2026-09-02T10:00", tz="UTC")]))
    body, n = line_protocol(frame, "probe_m", "probe")
    assert n == 1 and b"\n" not in body
    store._post_body(body, n)
    points = [s for r in store._query('SELECT * FROM "probe_m" GROUP BY *') for s in r.get("series", [])]
    assert len(points) == 1 and len(points[0]["values"]) == 1
    measurements = [v[0] for r in store._query("SHOW MEASUREMENTS") for s in r.get("series", []) for v in s["values"]]
    assert measurements == ["probe_m"]  # no injected "bolus" point
    stored = points[0]["tags"]["probe"]
    assert "animal_id=666" in stored and stored.startswith("x,")  # kept as data in the tag value


def test_readings_days_late_are_accepted_and_their_bucket_rescored(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reading 2 days late: stored, and re-scored by the sensor when the re-score horizon
    (SMX_SCORING_RESCORE_HOURS) covers it; the default 24 h horizon leaves it to a backfill."""
    sc = world.sc
    store = sc.sensor_store.open()
    engine = sc.herd_db.engine()
    t0 = sc.day(4) + pd.Timedelta(minutes=10)  # after the simulated window: all of it has arrived
    now = t0 + pd.Timedelta(minutes=15)

    def tick(at: pd.Timestamp, cursor: str | None) -> dg.SensorResult:
        monkeypatch.setattr(scoring_sensors, "utc_now", lambda: at)
        return scoring_sensors.scoring_sensor(
            dg.build_sensor_context(cursor=cursor, resources={"sensor_store": sc.sensor_store, "mlflow": sc.resources["mlflow"]}))

    monkeypatch.setenv("SMX_SCORING_RESCORE_HOURS", "72")
    first = tick(now, None)
    late_bucket = sc.day(2) + pd.Timedelta(hours=13, minutes=20)
    animal = int(sc.herd.animals["id"].iloc[0])
    raw = pd.DataFrame({"animal_id": [animal], "ts": [late_bucket + pd.Timedelta(minutes=3, seconds=30)],
                        "temp_c": [39.6], "activity": [44.0], "ph": [np.nan],
                        "received_at": [now + pd.Timedelta(minutes=2)]})
    report = validate_and_write_bolus(raw, store, engine, now + pd.Timedelta(minutes=2), batch_id="late-1")
    assert (report.n_written, report.n_rejected) == (1, 0)

    later = now + pd.Timedelta(minutes=5)
    res = tick(later, first.cursor)
    rescores = [r for r in res.run_requests if r.tags.get("smx/reason") == "late-data"]
    assert [r.partition_key for r in rescores] == [late_bucket.strftime(FMT)]
    assert tick(later + pd.Timedelta(minutes=1), res.cursor).run_requests == []  # once only

    monkeypatch.setenv("SMX_SCORING_RESCORE_HOURS", "24")
    default = tick(later, first.cursor)
    assert [r for r in default.run_requests if r.tags.get("smx/reason") == "late-data"] == []

    run = materialize_scores(world.resources, late_bucket)
    assert run.success
    preds = predictions_of(engine, world.features, late_bucket)
    assert len(preds) == world.expected_predictions(late_bucket)
    stored = store.read_bolus(late_bucket, late_bucket + pd.Timedelta(minutes=10), [animal])
    assert 39.6 in set(stored["temp_c"])
