"""The Alembic history creates the same herd schema on SQLite and PostgreSQL, and moves an
earlier deployment's predictions into the score store without loss (0004)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.herd_db import Base
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets_tests.score_tables import stored_scores


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_create_every_model_table_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    assert set(Base.metadata.tables) <= _tables(url)
    assert "alembic_version" in _tables(url)


def test_migrations_create_every_model_table_on_postgres(pg_url: str) -> None:
    upgrade_herd_db(pg_url)
    assert set(Base.metadata.tables) <= _tables(pg_url)


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    upgrade_herd_db(url)  # second call in-process is a no-op
    from smx_assets.domain import herd_db_migrate

    herd_db_migrate._done.clear()
    upgrade_herd_db(url)  # and a real second alembic upgrade changes nothing
    assert set(Base.metadata.tables) <= _tables(url)


# -- 0004: an earlier deployment's predictions moved into the score store ----------------------

LINEAGE_COLS = ["use_case", "shadow", "model_name", "model_version", "model_alias", "mlflow_run_id", "code_version",
                "partition_key", "dagster_run_id"]


def _earlier_predictions(features: Path) -> pd.DataFrame:
    """Rows as scoring runs before 0004 wrote them: two days, three use cases, a shadow
    challenger, a ranged retro run, a sharded run whose feature_ref names its shard file, a NULL
    MLflow run id; scores of full float64 precision."""
    rng = np.random.default_rng(4)
    day = pd.Timestamp("2026-11-02")
    rows = []

    def run(buckets, run_id, key, models, animals, shard=""):  # type: ignore[no-untyped-def]
        scored_at = buckets[-1] + pd.Timedelta(minutes=14)
        for b in buckets:
            ref = f"{features}/scored_features/{b:%Y-%m-%d}/{b:%H%M}{'.' + shard if shard else ''}.parquet"
            for uc, shadow, name, version, alias, mlflow_run in models:
                for a in animals:
                    rows.append({"use_case": uc, "animal_id": a, "bucket_start": b, "score": float(rng.random()),
                                 "shadow": shadow, "model_name": name, "model_version": version, "model_alias": alias,
                                 "mlflow_run_id": mlflow_run, "code_version": "0.9.1+g1234abc",
                                 "partition_key": key, "dagster_run_id": run_id,
                                 "feature_ref": f"{ref}#animal_id={a}", "scored_at": scored_at})

    champions = [("heat", False, "smx-heat", "3", "champion", "a" * 32), ("heat", True, "smx-heat", "4", "challenger",
                 "b" * 32), ("calving", False, "smx-calving-rule", "1", None, None),
                 ("fever", False, "smx-fever", "2", "champion", "c" * 32)]
    b0 = day + pd.Timedelta(hours=10)
    run([b0], "run-live-1", f"{b0:%Y-%m-%d-%H:%M}", champions, range(1, 6))
    retro = list(pd.date_range(day + pd.Timedelta(hours=23), periods=4, freq="10min"))  # over midnight
    run(retro, "run-retro", "2026-11-02-23:00..11-03-23:30", champions[:1] + champions[2:], range(1, 6))
    b1 = day + pd.Timedelta(days=1, hours=8)
    run([b1], "run-shard-0", f"{b1:%Y-%m-%d-%H:%M}", champions, [1, 3, 5], shard="shard-0-of-2")
    run([b1], "run-shard-1", f"{b1:%Y-%m-%d-%H:%M}", champions, [2, 4], shard="shard-1-of-2")
    return pd.DataFrame(rows)


def _earlier_database(url: str, rows: pd.DataFrame) -> None:
    """A herd DB at revision 0002 (the plain predictions table) holding ``rows``."""
    from smx_assets.domain import herd_db_migrate

    upgrade_herd_db(url, "0002")
    herd_db_migrate._done.clear()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO predictions (use_case, animal_id, bucket_start, score, shadow, model_name, model_version, "
            "model_alias, mlflow_run_id, code_version, partition_key, dagster_run_id, feature_ref, scored_at) VALUES "
            "(:use_case, :animal_id, :bucket_start, :score, :shadow, :model_name, :model_version, :model_alias, "
            ":mlflow_run_id, :code_version, :partition_key, :dagster_run_id, :feature_ref, :scored_at)"),
            [{**r, "bucket_start": r["bucket_start"].to_pydatetime(), "scored_at": r["scored_at"].to_pydatetime(),
              "mlflow_run_id": None if pd.isna(r["mlflow_run_id"]) else r["mlflow_run_id"],
              "model_alias": None if pd.isna(r["model_alias"]) else r["model_alias"]}
             for r in rows.to_dict("records")])
    engine.dispose()


def _smx_migrate(url: str, features: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_"))}
    env.update({"SMX_HOME": str(home), "SMX_HERD_DB_URL": url, "SMX_FEATURES_PATH": features})
    return subprocess.run([sys.executable, "-m", "smx_assets.cli", "migrate"], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_smx_migrate_moves_earlier_predictions_into_the_score_store(backend: str, tmp_path: Path, pg_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'herd.db'}" if backend == "sqlite" else pg_url
    features = tmp_path / "features"
    rows = _earlier_predictions(features)
    _earlier_database(url, rows)

    done = _smx_migrate(url, str(features), tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    per_model = rows.groupby(["use_case", "shadow", "model_name", "model_version"]).size()
    out = done.stdout
    assert f"predictions moved into the score store: {len(rows):,} rows -> {len(rows):,} scores" in out
    for (uc, shadow, name, version), n in per_model.items():
        assert f"{uc}{' (shadow)' if shadow else ''} {name} v{version}: {n:,} -> {n:,}" in out, out
    engine = sa.create_engine(url)
    assert "predictions" not in sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() >= "0004"
        n_lineage = conn.execute(sa.text("SELECT count(*) FROM scoring_lineage")).scalar_one()
    assert n_lineage == rows.groupby(["dagster_run_id", "use_case", "shadow"]).ngroups  # one per run and model

    stored = stored_scores(engine, str(features))
    key = ["dagster_run_id", "use_case", "shadow", "animal_id", "bucket_start"]
    want = rows.assign(bucket_start=rows["bucket_start"].astype("datetime64[us]"),
                       scored_at=rows["scored_at"].astype("datetime64[us]")).sort_values(key).reset_index(drop=True)
    got = stored.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want)
    assert np.array_equal(got["score"].to_numpy(), want["score"].to_numpy())  # bit for bit
    for col in [*LINEAGE_COLS, "animal_id", "bucket_start", "scored_at", "feature_ref"]:
        assert got[col].fillna("∅").astype(str).tolist() == want[col].fillna("∅").astype(str).tolist(), col
    assert set(got.loc[got["dagster_run_id"] == "run-shard-1", "shard"]) == {"shard-1-of-2"}

    again = _smx_migrate(url, str(features), tmp_path / "home")  # a rerun moves nothing twice
    assert again.returncode == 0 and "moved" not in again.stdout
    assert len(stored_scores(engine, str(features))) == len(rows)
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_failed_move_keeps_the_predictions_and_can_be_retried(backend: str, tmp_path: Path, pg_url: str) -> None:
    """The score store cannot be written (its path is a file): the migration fails in one line,
    the old table keeps every row, the schema stays at its revision, no score file is left;
    with the path fixed, the same command moves everything."""
    url = f"sqlite:///{tmp_path / 'herd.db'}" if backend == "sqlite" else pg_url
    rows = _earlier_predictions(tmp_path / "features")
    _earlier_database(url, rows)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the score store should be\n")

    failed = _smx_migrate(url, str(blocked), tmp_path / "home")
    assert failed.returncode != 0 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar_one() == len(rows)
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() < "0004"
    assert blocked.read_text().startswith("a file")

    done = _smx_migrate(url, str(tmp_path / "features"), tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(stored_scores(engine, str(tmp_path / "features"))) == len(rows)
    engine.dispose()


def test_a_move_failing_half_way_leaves_no_score_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second day's compaction fails after the first day was written: the migration rolls
    back and the first day's files go too (their lineage ids were rolled back with it)."""
    from smx_assets.domain import herd_db_migrate
    from smx_assets.domain.score_store import ScoreFiles

    url = f"sqlite:///{tmp_path / 'herd.db'}"
    features = tmp_path / "features"
    rows = _earlier_predictions(features)
    _earlier_database(url, rows)
    calls: list[str] = []
    original = ScoreFiles.compact_day

    def second_fails(self: ScoreFiles, day):  # type: ignore[no-untyped-def]
        calls.append(str(day))
        if len(calls) == 2:
            raise OSError("disk full (the test)")
        return original(self, day)

    monkeypatch.setattr(ScoreFiles, "compact_day", second_fails)
    with pytest.raises(OSError, match="disk full"):
        upgrade_herd_db(url, features_path=str(features))
    assert len(calls) == 2 and ScoreFiles(str(features)).days() == []
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM predictions")).scalar_one() == len(rows)
    engine.dispose()
    herd_db_migrate._done.clear()


# -- 0005: full cow numbers and ear tags --------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0005_widens_cow_numbers_on_a_database_of_the_earlier_schema(backend: str, tmp_path: Path,
                                                                     request: pytest.FixtureRequest) -> None:
    """A herd DB at 0004 with an imported cow: after the upgrade the cow is unchanged, and a
    64-character cow number and its 67-character ear tag are stored whole (PostgreSQL refused
    anything over 32 before, which is why the importer cut them)."""
    from smx_assets.domain import herd_db_migrate

    url = f"sqlite:///{tmp_path / 'herd.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    upgrade_herd_db(url, "0004", features_path=str(tmp_path / "features"))
    herd_db_migrate._done.clear()
    engine = sa.create_engine(url)
    animal = ("INSERT INTO animals (farm_id, ear_tag, cow_number, breed, bolus_type) "
              "VALUES (1, :tag, :cow, 'Holstein', 'collar_activity')")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO farms (id, name, timezone, default_housing) VALUES (1, 'f', 'UTC', 'barn')"))
        conn.execute(sa.text(animal), {"tag": "1-2131", "cow": "2131"})
    long_cow = "DE" + "0123456789" * 6 + "XY"
    assert len(long_cow) == 64
    upgrade_herd_db(url, features_path=str(tmp_path / "features"))
    with engine.begin() as conn:
        conn.execute(sa.text(animal), {"tag": f"1-{long_cow}", "cow": long_cow})
        rows = conn.execute(sa.text("SELECT ear_tag, cow_number FROM animals ORDER BY id")).all()
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0005"
    assert [tuple(r) for r in rows] == [("1-2131", "2131"), (f"1-{long_cow}", long_cow)]
    if backend == "postgresql":
        with engine.connect() as conn:
            widths = dict(conn.execute(sa.text(
                "SELECT column_name, character_maximum_length FROM information_schema.columns "
                "WHERE table_name = 'animals' AND column_name IN ('cow_number', 'ear_tag')")).all())
        assert widths == {"cow_number": 64, "ear_tag": 96}
    engine.dispose()
