"""The COPY text and the background prediction writer, on the real PostgreSQL.

The writer runs chunk writes beside the scoring run; these tests hold it to what the synchronous
write guaranteed: exact values (awkward texts, NULLs, floats to the last bit), submission order,
and a failed write raised in the run, not lost in a thread."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import psycopg2.errors
import pytest
import sqlalchemy as sa

from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.scoring.outputs import PREDICTION_COLUMNS, replace_predictions
from smx_assets.domain.scoring.prediction_writer import PredictionWriter
from smx_assets.domain.sql_engine import make_engine

BUCKET = pd.Timestamp("2026-10-11 13:00", tz="UTC")
END = BUCKET + pd.Timedelta(minutes=10)
AWKWARD = ["\\N", "", 'a,"b"', "line\nbreak", "plain", None]


def _frame(ids: list[int], scores: list[float], texts: list[str | None] | None = None) -> pd.DataFrame:
    n = len(ids)
    texts = texts if texts is not None else [f"ref#{i}" for i in ids]
    return pd.DataFrame({
        "use_case": "heat", "animal_id": ids, "bucket_start": BUCKET, "score": scores,
        "shadow": [i % 2 == 0 for i in range(n)], "model_name": "smx_heat", "model_version": "3",
        "model_alias": texts, "mlflow_run_id": "r" * 32, "code_version": "c0de", "partition_key": "2026-10-11-13:00",
        "dagster_run_id": None, "feature_ref": texts,
        "scored_at": pd.Timestamp("2026-10-11 13:11:02.123456", tz="UTC"),
    })


def _stored(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {', '.join(PREDICTION_COLUMNS)} FROM predictions ORDER BY animal_id")).all()
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


@pytest.fixture
def engine(pg_url: str) -> sa.Engine:
    upgrade_herd_db(pg_url)
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


def test_copy_stores_awkward_texts_nulls_and_floats_exactly(engine: sa.Engine) -> None:
    scores = [1 / 3, 1e-300, 0.1 + 0.2, 2.0, np.nextafter(1.0, 0.0), 0.0]
    frame = _frame(list(range(6)), scores, AWKWARD)
    assert replace_predictions(engine, frame, BUCKET, END) == 6
    got = _stored(engine)
    assert got["score"].tolist() == scores  # bit for bit: shortest round-trip text
    assert got["feature_ref"].tolist() == AWKWARD  # "\N" and "" stay texts, None is NULL
    assert got["model_alias"].tolist() == AWKWARD
    assert got["dagster_run_id"].isna().all()
    assert got["shadow"].tolist() == [True, False, True, False, True, False]
    assert got["bucket_start"].unique().tolist() == [pd.Timestamp("2026-10-11 13:00")]
    assert got["scored_at"].unique().tolist() == [pd.Timestamp("2026-10-11 13:11:02.123456")]


def test_background_writes_run_in_order_off_the_calling_thread(engine: sa.Engine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from smx_assets.domain.scoring import prediction_writer

    threads: list[str] = []
    real = prediction_writer.replace_predictions

    def spy(*args: object, **kwargs: object) -> int:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(prediction_writer, "replace_predictions", spy)
    with PredictionWriter(engine) as writer:
        assert writer.background
        writer.replace(_frame([1, 2], [0.1, 0.2]), BUCKET, END, (None, 10))
        writer.replace(_frame([11, 12], [0.3, 0.4]), BUCKET, END, (10, None))
        writer.replace(_frame([1, 2], [0.9, 0.8]), BUCKET, END, (None, 10))  # a re-scored chunk: last one wins
    assert len(threads) == 3 and all(t.startswith("smx-predictions") for t in threads)
    got = _stored(engine)
    assert got["animal_id"].tolist() == [1, 2, 11, 12]
    assert got["score"].tolist() == [0.9, 0.8, 0.3, 0.4]
    assert writer.seconds > 0


def test_a_failed_background_write_is_raised_in_the_run(engine: sa.Engine) -> None:
    bad = _frame([5], [0.5]).assign(model_name="m" * 200)  # longer than VARCHAR(128): the COPY fails
    writer = PredictionWriter(engine)
    writer.replace(bad, BUCKET, END)
    with pytest.raises(psycopg2.errors.StringDataRightTruncation, match="too long"):
        writer.replace(_frame([6], [0.6]), BUCKET, END)  # the next submit reports the failure
    writer.close()
    assert _stored(engine).empty  # the failed chunk's transaction left nothing; the next was never queued


def test_sqlite_writes_synchronously(tmp_path: pytest.TempPathFactory) -> None:
    url = f"sqlite:///{tmp_path}/herd.db"
    upgrade_herd_db(url)
    eng = make_engine(url)
    with PredictionWriter(eng) as writer:
        assert not writer.background
        assert writer.replace(_frame([1], [0.5]), BUCKET, END) == 1
        assert len(_stored(eng)) == 1  # already written when replace returns
    eng.dispose()
