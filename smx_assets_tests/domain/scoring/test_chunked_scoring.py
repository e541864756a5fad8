"""Scoring a window chunk by chunk gives what one pass over the herd gives, on real stores.

A simulated herd in a real InfluxDB (through the read cache, the ten-minute path), the herd DB
on SQLite and on PostgreSQL, rule-baseline champions in a real MLflow store. The herd is split so
that one chunk has no readings in a bucket other chunks have readings in (the empty-bucket
guard's herd-wide answer), one bucket has no readings at all, and part of the herd wears collars
(the signal gate skips calving and fever for them). Predictions, alerts, stored feature vectors
and the run's figures must not depend on the split; a PostgreSQL herd DB (lineage) must give the
same stored scores as SQLite, and a rerun must replace, never duplicate.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain import model_registry
from smx_assets.domain.features import compute_features
from smx_assets.domain.features.profile import active_animals, load_herd_records
from smx_assets.domain.features.storage import SCORED, FeatureFiles
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.scoring import engine as scoring_engine
from smx_assets.domain.scoring.engine import ScoringLineage, load_model_sets, score_window
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.loader import write_herd
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets_tests.score_tables import stored_scores

pytestmark = pytest.mark.slow  # ~2 min: scoring in chunks and processes against one pass

START = pd.Timestamp("2026-09-01", tz="UTC")
DAY = pd.Timedelta(days=1)
N_ANIMALS = 40
WINDOW_START = START + 6 * DAY + pd.Timedelta(hours=4)  # animal 16 comes into heat at 06:56
WINDOW_END = WINDOW_START + pd.Timedelta(hours=16)  # to 20:00: the 12-hour ratio needs the heat to go on
# Animals 1..12 send nothing in this bucket (their farm's data is late): another chunk has readings.
LATE_BUCKET = WINDOW_START + pd.Timedelta(hours=3)
LATE_ANIMALS = range(1, 13)
DEAD_BUCKET = WINDOW_START + pd.Timedelta(hours=5)  # nobody sends anything
COLLARS = (30, 31, 32)
KEY = ["use_case", "model_name", "model_version", "animal_id", "bucket_start"]
DROP = ["id", "scored_at", "dagster_run_id"]


@pytest.fixture(scope="module")
def herd(tmp_path_factory: pytest.TempPathFactory, influx_server) -> dict[str, object]:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("chunked")
    sim = simulate(SimConfig(n_animals=N_ANIMALS, days=8, seed=5, start=START.date()))
    bolus = sim.bolus.drop(columns=["received_at"])
    bolus = bolus[bolus["temp_c"].between(28, 44) & bolus["activity"].ge(0)].drop_duplicates(["animal_id", "ts"])
    bucket = bolus["ts"].dt.floor("10min")
    late = (bucket == LATE_BUCKET) & bolus["animal_id"].isin(list(LATE_ANIMALS))
    bolus = bolus[~late & (bucket != DEAD_BUCKET)]
    url = influx_server.url_with(database=f"chunked_{uuid.uuid4().hex[:8]}")
    store = open_sensor_store(url)
    store.ensure_schema()
    store.write_bolus(bolus)
    store.write_climate(sim.climate.drop(columns=["received_at"]).drop_duplicates(["sensor_id", "ts"]))
    store.close()
    mlflow_uri = f"sqlite:///{root / 'mlflow.db'}"
    model_registry.configure(mlflow_uri)
    sqlite_url = f"sqlite:///{root / 'herd.db'}"
    upgrade_herd_db(sqlite_url)
    engine = make_engine(sqlite_url)
    write_herd(sim, engine)
    records = load_herd_records(engine)
    frame = compute_features(bolus, sim.climate, records, None, (START + 5 * DAY, START + 5 * DAY + pd.Timedelta(hours=6)))
    for uc in all_use_cases():
        with model_registry.training_run(uc.experiment_name, run_name=f"{uc.name}-rule") as run:
            model_registry.log_rule_model(uc.rule_baseline, frame)
        model_registry.register(run.info.run_id, uc.rule_model_name)
    engine.dispose()
    return {"root": root, "sim": sim, "store_url": f"{url}?read_cache={root / 'read_cache'}", "mlflow": mlflow_uri}


def _herd_db(herd: dict[str, object], url: str) -> sa.Engine:
    upgrade_herd_db(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        if not conn.execute(sa.text("SELECT count(*) FROM animals")).scalar():
            write_herd(herd["sim"], engine)  # type: ignore[arg-type]
        conn.execute(sa.text("UPDATE animals SET bolus_type = 'collar_activity' WHERE id IN (30, 31, 32)"))
    return engine


def _score(herd: dict[str, object], engine: sa.Engine, features: str, chunk_cells: int,  # type: ignore[no-untyped-def]
           processes: int = 1):
    store = open_sensor_store(str(herd["store_url"]))
    client = model_registry.configure(str(herd["mlflow"]))
    try:
        return score_window(engine=engine, store=store, files=FeatureFiles(features), records=load_herd_records(engine),
                            model_sets=load_model_sets(all_use_cases(), client=client), start=WINDOW_START,
                            end=WINDOW_END, lineage=ScoringLineage("test", "chunked", None), chunk_cells=chunk_cells,
                            processes=processes)
    finally:
        store.close()


def _table(engine: sa.Engine, name: str, key: list[str], features: str | None = None) -> pd.DataFrame:
    """The alerts table, or (``name="scores"``) the score store under ``features``, comparable
    across runs (run-specific columns dropped)."""
    if name == "scores":
        frame = stored_scores(engine, str(features)).drop(columns=["lineage_id", "shard"])
    else:
        with engine.connect() as conn:
            frame = pd.read_sql_query(sa.text(f"SELECT * FROM {name}"), conn)
    if "shadow" in frame:
        frame["shadow"] = frame["shadow"].astype(bool)
    frame = frame.drop(columns=[c for c in DROP + ["created_at"] if c in frame.columns])
    # the runs write their vectors to different folders: compare the file within the folder
    frame["feature_ref"] = frame["feature_ref"].str.replace(r"^.*/scored_features/", "", regex=True)
    return frame.sort_values(key).reset_index(drop=True)


def _clear(engine: sa.Engine) -> None:
    """Alerts go (each run stores its scores under its own features folder)."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM alerts"))


def _scored_files(base: Path) -> dict[str, pd.DataFrame]:
    files = FeatureFiles(str(base))
    out = {}
    for path in sorted((base / SCORED).rglob("*.parquet")):
        out[str(path.relative_to(base))] = pd.read_parquet(path)
    assert files.exists(SCORED, WINDOW_START, table=WINDOW_START.strftime("%H%M"))
    return out


def test_chunked_equals_one_pass_sqlite(herd: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _herd_db(herd, f"sqlite:///{Path(str(herd['root'])) / 'herd.db'}")
    root = Path(str(herd["root"]))
    n_buckets = int((WINDOW_END - WINDOW_START) / pd.Timedelta(minutes=10))

    whole = _score(herd, engine, str(root / "f_whole"), chunk_cells=10**8)
    preds_whole, alerts_whole = _table(engine, "scores", KEY, root / "f_whole"), \
        _table(engine, "alerts", KEY[:1] + KEY[3:])
    files_whole = _scored_files(root / "f_whole")
    _clear(engine)

    monkeypatch.setattr(scoring_engine, "MIN_CHUNK_ANIMALS", 1)
    calls: list[list[int]] = []
    original = scoring_engine._chunk_features
    monkeypatch.setattr(scoring_engine, "_chunk_features",
                        lambda w, ids, **kw: calls.append(ids.tolist()) or original(w, ids, **kw))
    chunked = _score(herd, engine, str(root / "f_chunked"), chunk_cells=9 * n_buckets)  # 9 animals a chunk
    preds_chunked = _table(engine, "scores", KEY, root / "f_chunked")
    alerts_chunked = _table(engine, "alerts", KEY[:1] + KEY[3:])

    active = active_animals(load_herd_records(engine), WINDOW_START, WINDOW_END).tolist()
    n_chunks = -(-len(active) // 9)
    assert n_chunks >= 4 and max(len(c) for c in calls) <= 9
    assert [a for c in calls[:n_chunks] for a in c] == active  # really chunked, every animal once
    redone = calls[n_chunks:]
    assert redone and all(set(c) <= set(LATE_ANIMALS) for c in redone)  # the late farm's chunk, scored again
    # the split changed nothing
    pd.testing.assert_frame_equal(preds_whole, preds_chunked)
    pd.testing.assert_frame_equal(alerts_whole, alerts_chunked)
    assert files_whole.keys() == _scored_files(root / "f_chunked").keys()
    for name, frame in files_whole.items():
        pd.testing.assert_frame_equal(frame, pd.read_parquet(root / "f_chunked" / name))
    for field in ("n_predictions", "n_animals", "n_buckets", "n_readings", "buckets_without_readings",
                  "skipped_use_cases", "alerts_new", "alerts_candidates"):
        assert getattr(whole, field) == getattr(chunked, field), field
    assert chunked.feature_missing_share == pytest.approx(whole.feature_missing_share, abs=1e-12)

    # and what is checked is there: the late bucket scored for every animal, the dead one not at
    # all, collar cows without calving/fever scores, some alerts
    assert chunked.buckets_without_readings == [DEAD_BUCKET]
    late = preds_chunked[pd.to_datetime(preds_chunked["bucket_start"]) == LATE_BUCKET.tz_localize(None)]
    assert set(late["animal_id"]) >= set(LATE_ANIMALS) & set(active)  # no readings of their own, still scored
    assert not (pd.to_datetime(preds_chunked["bucket_start"]) == DEAD_BUCKET.tz_localize(None)).any()
    assert f"{DEAD_BUCKET:%H%M}.parquet" not in {Path(n).name for n in files_whole}
    gated = preds_chunked[preds_chunked["use_case"].isin(["calving", "fever"])]
    assert not gated["animal_id"].isin(COLLARS).any()
    assert preds_chunked.loc[preds_chunked["use_case"] == "heat", "animal_id"].isin(COLLARS).any()
    assert set(chunked.skipped_use_cases) >= {"calving", "fever"}
    assert len(alerts_chunked) > 0
    engine.dispose()


def test_postgresql_herd_db_matches_sqlite_and_reruns_idempotently(herd: dict[str, object], pg_url: str) -> None:
    root = Path(str(herd["root"]))
    lite = _herd_db(herd, f"sqlite:///{root / 'herd_copy.db'}")
    pg = _herd_db(herd, pg_url)
    _score(herd, lite, str(root / "f_lite"), chunk_cells=10**8)
    first = _score(herd, pg, str(root / "f_pg"), chunk_cells=2000)
    preds_pg = _table(pg, "scores", KEY, root / "f_pg")
    assert first.n_predictions == len(preds_pg) > 0
    assert preds_pg["score"].isna().any() or preds_pg["mlflow_run_id"].notna().all()  # NULLs came through as NULL
    lite_rows = _table(lite, "scores", KEY, root / "f_lite")
    pd.testing.assert_frame_equal(
        preds_pg.astype({"bucket_start": "datetime64[ns]"}).drop(columns=["feature_ref"]),
        lite_rows.assign(bucket_start=pd.to_datetime(lite_rows["bucket_start"])).astype(
            {"bucket_start": "datetime64[ns]"}).drop(columns=["feature_ref"]),
        check_dtype=False)
    alerts_before = _table(pg, "alerts", KEY[:1] + KEY[3:])
    again = _score(herd, pg, str(root / "f_pg"), chunk_cells=2000)
    preds_again = _table(pg, "scores", KEY, root / "f_pg")
    assert again.n_predictions == first.n_predictions == len(preds_again)
    assert not preds_again.duplicated(KEY).any()
    pd.testing.assert_frame_equal(preds_pg, preds_again)
    pd.testing.assert_frame_equal(alerts_before, _table(pg, "alerts", KEY[:1] + KEY[3:]))
    assert sum(again.alerts_new.values()) == 0  # known alerts are not raised twice
    lite.dispose()
    pg.dispose()


def test_features_on_two_processes_equal_one(herd: dict[str, object], pg_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked feature worker (SMX_SCORING_PROCESSES=2) computes the odd chunks: the stored
    scores, alerts, feature files and figures are those of one process, bit for bit (InfluxDB
    through the read cache, PostgreSQL herd DB: both keep working in the parent after the fork)."""
    root = Path(str(herd["root"]))
    pg = _herd_db(herd, pg_url)
    monkeypatch.setattr(scoring_engine, "MIN_CHUNK_ANIMALS", 1)  # 9 animals a chunk
    n_buckets = int((WINDOW_END - WINDOW_START) / pd.Timedelta(minutes=10))
    one = _score(herd, pg, str(root / "f_one"), chunk_cells=9 * n_buckets, processes=1)
    preds_one, alerts_one = _table(pg, "scores", KEY, root / "f_one"), _table(pg, "alerts", KEY[:1] + KEY[3:])
    _clear(pg)
    two = _score(herd, pg, str(root / "f_two"), chunk_cells=9 * n_buckets, processes=2)
    preds_two, alerts_two = _table(pg, "scores", KEY, root / "f_two"), _table(pg, "alerts", KEY[:1] + KEY[3:])
    n_chunks = len(scoring_engine.animal_chunks(active_animals(load_herd_records(pg), WINDOW_START, WINDOW_END),
                                                n_buckets, 9 * n_buckets))
    assert len(preds_one) > 0 and n_chunks >= 4
    assert (one.feature_worker_chunks, two.feature_worker_chunks) == (0, n_chunks // 2)  # the odd ones
    assert two.worker_peak_rss_mb > 0
    pd.testing.assert_frame_equal(preds_one, preds_two)
    pd.testing.assert_frame_equal(alerts_one, alerts_two)
    files_one = _scored_files(root / "f_one")
    assert files_one.keys() == _scored_files(root / "f_two").keys()
    for name, frame in files_one.items():
        pd.testing.assert_frame_equal(frame, pd.read_parquet(root / "f_two" / name.replace("f_one", "f_two")))
    for field in ("n_predictions", "n_animals", "n_buckets", "n_readings", "buckets_without_readings", "alerts_new"):
        assert getattr(one, field) == getattr(two, field), field
    with pg.connect() as conn:  # the parent's pooled connections survived the worker
        assert conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one() == len(alerts_two)
    pg.dispose()
