"""Issue 28 item 6: a run whose worker was ``kill -9``'d is cleaned up by whichever command
starts next (score, train, import, demo), not only by ``smx demo`` and the daemon; a command
that only reads (``smx summary``) leaves the run storage alone."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import dagster as dg
import pytest

from smx_assets.run_health import WORKER_TAG
from smx_assets_tests.reliability.helpers import smx

ROOT = Path(__file__).resolve().parents[2]
SCORE_ARGS = ["--from", "2026-11-01", "--to", "2026-11-01"]


def _dead_run(home: Path) -> str:
    """A STARTED run whose worker process is gone, as a ``kill -9`` leaves it."""
    worker = subprocess.Popen(["sleep", "60"])
    worker.kill()
    worker.wait()
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_run(dg.DagsterRun(job_name="scoring_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED,
                                       tags={WORKER_TAG: f"{socket.gethostname()}:{worker.pid}:1"}))
    return run_id


def _status(home: Path, run_id: str) -> str:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        return run.status.value


@pytest.mark.parametrize("args", [["score", *SCORE_ARGS], ["train"], ["import", "exports.csv"]],
                         ids=["score", "train", "import"])
def test_the_next_command_fails_a_dead_run(tmp_path: Path, args: list[str]) -> None:
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    (tmp_path / "exports.csv").write_text("cow,time,temperature\n")
    run_id = _dead_run(tmp_path)
    assert _status(tmp_path, run_id) == "STARTED"
    p = smx(tmp_path, *args)
    assert "Traceback" not in p.stdout + p.stderr, p.stderr  # the command itself may have nothing to do
    assert _status(tmp_path, run_id) == "FAILURE", (p.returncode, p.stdout[-500:], p.stderr[-500:])


def test_a_reading_command_leaves_the_runs_alone(tmp_path: Path) -> None:
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    run_id = _dead_run(tmp_path)
    smx(tmp_path, "summary")
    assert _status(tmp_path, run_id) == "STARTED"
