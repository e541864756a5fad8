"""Retention on real servers: whole days of the score store dropped with their lineage rows
(herd DB on PostgreSQL and SQLite), the days before today compacted, stored feature vectors
removed, the SQL sensor store's old readings deleted and
InfluxDB's retention policy set and enforced by InfluxDB itself. Alerts, their feedback and
their feature vectors are kept; nothing newer than a cutoff is touched."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.features.storage import SCORED, FeatureFiles
from smx_assets.domain.herd_db import Alert, Feedback, RejectedReading, to_db_ts
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.retention import ALERT_FEATURES, RetentionPolicy, enforce_retention
from smx_assets.domain.score_store import ScoreFiles
from smx_assets.domain.scoring.outputs import insert_alerts
from smx_assets.domain.sensor_store.base import SensorStoreError
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets_tests.score_tables import stored_scores, write_scores

NOW = pd.Timestamp("2026-11-30 05:17", tz="UTC")
TODAY = NOW.floor("D")
DAYS = [TODAY - pd.Timedelta(days=k) for k in range(40, -1, -1)]  # 41 days up to today
POLICY = RetentionPolicy(readings_days=12, features_days=20, predictions_days=30)
ANIMALS = [1, 2, 3]


def _predictions(day: pd.Timestamp) -> pd.DataFrame:
    buckets = [day + pd.Timedelta(hours=9), day + pd.Timedelta(hours=9, minutes=10)]
    rows = [{"use_case": "heat", "animal_id": a, "bucket_start": b, "score": 0.1 * a, "shadow": False,
             "model_name": "smx-heat", "model_version": "1", "model_alias": "champion", "mlflow_run_id": "r1",
             "code_version": "t", "partition_key": f"{b:%Y-%m-%d-%H:%M}", "dagster_run_id": None,
             "feature_ref": None, "scored_at": NOW} for a in ANIMALS for b in buckets]
    return pd.DataFrame(rows)


def _features(day: pd.Timestamp) -> pd.DataFrame:
    b = day + pd.Timedelta(hours=9)
    return pd.DataFrame({"animal_id": np.array(ANIMALS, dtype="int64"), "bucket_start": [b] * 3,
                         "temp_clean": [38.6, 39.1, 38.7]})


def _fill(engine: sa.Engine, files: FeatureFiles) -> dict[str, pd.Timestamp]:
    for day in DAYS:
        refs = files.write_scored(_features(day))
        preds = _predictions(day)
        preds["feature_ref"] = [refs.get(pd.Timestamp(b), "") + f"#animal_id={a}" if b in refs else None
                                for a, b in zip(preds["animal_id"], preds["bucket_start"])]
        write_scores(engine, files.base_path, preds)
    old, recent = DAYS[2] + pd.Timedelta(hours=9), DAYS[-3] + pd.Timedelta(hours=9)
    alerts = pd.DataFrame([
        {"use_case": "heat", "animal_id": 2, "bucket_start": b, "score": 0.9, "threshold": 0.8,
         "model_name": "smx-heat", "model_version": "1", "mlflow_run_id": "r1", "code_version": "t",
         "partition_key": f"{b:%Y-%m-%d-%H:%M}", "dagster_run_id": "run", "created_at": NOW,
         "feature_ref": f"{files.url(SCORED, b, table=b.strftime('%H%M'))}#animal_id=2",
         "features": {"temp_clean": 39.1}} for b in (old, recent)])
    assert insert_alerts(engine, alerts) == 2
    with engine.begin() as conn:
        t = Alert.__table__
        alert_id = conn.execute(sa.select(t.c.id).where(t.c.bucket_start == to_db_ts(old))).scalar_one()
        conn.execute(Feedback.__table__.insert().values(alert_id=alert_id, verdict="confirmed",
                                                        given_at=to_db_ts(NOW)))
    return {"old": old, "recent": recent}


def _counts_per_day(engine: sa.Engine, files: FeatureFiles) -> dict[dt.date, int]:
    out: dict[dt.date, int] = {}
    for r in stored_scores(engine, files.base_path)["bucket_start"]:
        d = pd.Timestamp(r).date()
        out[d] = out.get(d, 0) + 1
    return out


def _alerts(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text("SELECT * FROM alerts ORDER BY bucket_start"), conn)


def _check_outcome(engine: sa.Engine, files: FeatureFiles, root: Path, alerts_at: dict, report,  # type: ignore[no-untyped-def]
                   before: dict[dt.date, int]) -> None:
    pred_cut = (TODAY - pd.Timedelta(days=POLICY.predictions_days - 1)).date()
    feat_cut = (TODAY - pd.Timedelta(days=POLICY.features_days - 1)).date()
    after = _counts_per_day(engine, files)
    assert set(after) == {d for d in before if d >= pred_cut}  # old days gone ...
    assert all(after[d] == before[d] for d in after)  # ... nothing newer touched
    assert report.score_days_removed == [d.date().isoformat() for d in DAYS if d.date() < pred_cut]
    assert report.lineage_rows_removed == 2 * 11  # one per run (two buckets a day, one run each)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scoring_lineage")).scalar_one() == 2 * 30
    # the days kept before today are compacted into one file each; today's files stay loose
    scores = ScoreFiles(files.base_path)
    assert report.score_days_compacted == [d.date().isoformat() for d in DAYS if pred_cut <= d.date() < TODAY.date()]
    assert scores.loose_files(TODAY) and not scores.loose_files(DAYS[-2])
    assert report.score_bytes_at_rest == scores.bytes_at_rest() > 0
    # stored feature vectors: old days removed, newer ones all there
    kept = sorted(p.name for p in (root / "features" / SCORED).iterdir())
    assert kept == [d.date().isoformat() for d in DAYS if d.date() >= feat_cut]
    assert report.feature_files_removed == len(report.feature_days_removed) == 21
    # alerts, their feedback and their vectors are kept
    alerts = _alerts(engine)
    assert len(alerts) == 2 and report.alert_vectors_kept == 1
    old_ref = alerts.iloc[0]["feature_ref"]
    assert f"/{ALERT_FEATURES}/" in old_ref and old_ref.endswith("#animal_id=2")
    url = files.resolve(old_ref.rpartition("#")[0])
    vec = pd.read_parquet(url)
    assert vec["animal_id"].tolist() == [2] and vec["temp_clean"].tolist() == [39.1]
    assert f"/{SCORED}/" in alerts.iloc[1]["feature_ref"]  # the recent alert's vector still in place
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar_one() == 1


def test_postgres_score_days_dropped_alerts_kept(pg_url: str, tmp_path: Path) -> None:
    upgrade_herd_db(pg_url)
    engine = make_engine(pg_url)
    files = FeatureFiles(str(tmp_path / "features"))
    alerts_at = _fill(engine, files)
    before = _counts_per_day(engine, files)
    assert len(before) == len(DAYS) and set(before.values()) == {6}
    store = open_sensor_store(f"sqlite:///{tmp_path / 'sensors.db'}")
    store.ensure_schema()
    report = enforce_retention(engine=engine, store=store, files=files, policy=POLICY, now=NOW)
    _check_outcome(engine, files, tmp_path, alerts_at, report, before)
    pred_cut = (TODAY - pd.Timedelta(days=POLICY.predictions_days - 1)).date()
    again = enforce_retention(engine=engine, store=store, files=files, policy=POLICY, now=NOW)
    assert not again.score_days_removed and again.lineage_rows_removed == 0 and not again.score_days_compacted
    assert again.score_bytes_at_rest == report.score_bytes_at_rest
    assert _counts_per_day(engine, files) == {d: n for d, n in before.items() if d >= pred_cut}
    store.close()
    engine.dispose()


def test_sqlite_rows_deleted_and_sql_sensor_store_readings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    engine = make_engine(url)
    files = FeatureFiles(str(tmp_path / "features"))
    alerts_at = _fill(engine, files)
    before = _counts_per_day(engine, files)
    store = open_sensor_store(f"sqlite:///{tmp_path / 'sensors.db'}")
    store.ensure_schema()
    ts = [d + pd.Timedelta(hours=12) for d in DAYS]
    store.write_bolus(pd.DataFrame({"animal_id": 1, "ts": pd.to_datetime(ts, utc=True), "temp_c": 38.5,
                                    "activity": 10.0, "ph": np.nan}))
    with engine.begin() as conn:  # stored rejections: one as old as the removed readings, one recent
        for at in (DAYS[0], TODAY):
            conn.execute(RejectedReading.__table__.insert().values(
                source="bolus", batch_id="b", rejected_at=to_db_ts(at), reason="range"))
    report = enforce_retention(engine=engine, store=store, files=files, policy=POLICY, now=NOW)
    _check_outcome(engine, files, tmp_path, alerts_at, report, before)
    assert report.rejected_readings_removed == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM rejected_readings")).scalar_one() == 1
    read_cut = TODAY - pd.Timedelta(days=POLICY.readings_days - 1)
    assert report.readings["bolus_rows_removed"] == sum(t < read_cut for t in ts) == 29
    left = store.read_bolus(DAYS[0], TODAY + pd.Timedelta(days=1))
    assert left["ts"].min() == read_cut + pd.Timedelta(hours=12) and len(left) == 12
    store.close()
    engine.dispose()


def test_influx_retention_policy_set_and_enforced_by_influxdb(tmp_path: Path) -> None:
    from smx_assets.devtools.influx_server import InfluxServer

    server = InfluxServer.start(tmp_path / "influx", retention_check_interval="1s")
    try:
        store = open_sensor_store(server.url_with(database=f"ret_{uuid.uuid4().hex[:8]}"))
        store.ensure_schema()
        now = pd.Timestamp.now(tz="UTC").floor("min")
        old = [now - pd.Timedelta(days=30) + pd.Timedelta(minutes=10 * k) for k in range(6)]
        new = [now - pd.Timedelta(hours=2) + pd.Timedelta(minutes=10 * k) for k in range(6)]
        store.write_bolus(pd.DataFrame({"animal_id": 7, "ts": pd.to_datetime(old + new, utc=True), "temp_c": 38.5,
                                        "activity": 10.0, "ph": np.nan}))
        assert len(store.read_bolus(now - pd.Timedelta(days=31), now)) == 12
        info = store.enforce_retention(2, (now - pd.Timedelta(days=1)).floor("D"))  # type: ignore[attr-defined]
        assert info["duration"] == "48h0m0s" and info["shard_group_duration"] == "24h0m0s"
        assert info["shards_past_duration"] >= 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(store.read_bolus(now - pd.Timedelta(days=31), now)) > 6:
            time.sleep(0.5)  # InfluxDB's retention service drops the expired shard group
        left = store.read_bolus(now - pd.Timedelta(days=31), now)
        assert left["ts"].tolist() == pd.to_datetime(new, utc=True).tolist()  # nothing newer touched
        with pytest.raises(SensorStoreError, match="retention"):  # history older than the duration is refused
            store.write_bolus(pd.DataFrame({"animal_id": 7, "ts": pd.to_datetime(old[:1], utc=True),
                                            "temp_c": 38.5, "activity": 10.0, "ph": np.nan}))
        assert store.enforce_retention(2, now.floor("D"))["duration"] == "48h0m0s"  # type: ignore[attr-defined]
        store.close()
    finally:
        server.stop()
