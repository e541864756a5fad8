"""A run worker that dies mid-run: scores one bucket and is SIGKILLed (``test_concurrency``).

``KILLED_RUN_AT`` says where:

* ``after-scores`` (default): right after the run's scores were committed (every bucket file
  renamed into place), before alerts;
* ``mid-write``: while the bucket's score file is being written, after half of its bytes
  reached the temporary file (a crash in the middle of the one write that matters).

Configured through the environment: ``SMX_*``/``MLFLOW_TRACKING_URI`` (stores), ``DAGSTER_HOME``
(a persistent instance) and ``KILLED_RUN_PARTITION``."""

import io
import os
import signal

import dagster as dg
import pyarrow.parquet as pq

from smx_assets.domain.score_store import files as score_files
from smx_assets.domain.score_store.writer import ScoreWriter


def _die(*_args: object, **_kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no run-failure event: a lost worker


def _commit_then_die(writer: ScoreWriter, buckets, _commit=ScoreWriter.commit) -> int:  # type: ignore[no-untyped-def]
    _commit(writer, buckets)
    _die()
    return 0


def _write_half_then_die(table, where, **kwargs) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    _write_table(table, buf, **kwargs)
    data = buf.getvalue()
    where.write(data[: len(data) // 2])
    where.flush()
    _die()


_write_table = pq.write_table


def _write_bucket_dying(files, bucket, table, shard="", _write=score_files.ScoreFiles.write_bucket):  # type: ignore[no-untyped-def]
    pq.write_table = _write_half_then_die  # only the score file's write dies (features are written too)
    return _write(files, bucket, table, shard)


if __name__ == "__main__":
    if os.environ.get("KILLED_RUN_AT", "after-scores") == "mid-write":
        score_files.ScoreFiles.write_bucket = _write_bucket_dying  # type: ignore[method-assign]
    else:
        ScoreWriter.commit = _commit_then_die  # type: ignore[method-assign]
    # Only the scoring asset (not every definition: monitoring imports Evidently, seconds more).
    from smx_assets.defs.ingest.assets import SOURCE_SPECS
    from smx_assets.defs.scoring.assets import scores
    from smx_assets.resources import default_resources

    dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=default_resources(),
                   instance=dg.DagsterInstance.get(), partition_key=os.environ["KILLED_RUN_PARTITION"])
    raise SystemExit("the run finished although it should have been killed")
