"""No state that lies after a crash: a training worker SIGKILLed between registration and
evaluation leaves an MLflow run RUNNING, a Dagster run STARTED and a half-registered version.
The next training ends the run as KILLED (a live process's run is left alone), run monitoring
fails the Dagster run, and rollback refuses the version unless forced."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from smx_assets.domain import model_registry as reg
from smx_assets.domain import run_hygiene
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.run_health import PidCheckingRunLauncher, fail_dead_runs, worker_health

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("_killed_training.py")


def _start(home: Path, uri: str, mode: str = "") -> subprocess.Popen:
    env = {**os.environ, "SMX_HOME": str(home), "MLFLOW_TRACKING_URI": uri, "DAGSTER_HOME": str(home),
           "KILLED_TRAINING_MODE": mode}
    return subprocess.Popen([sys.executable, str(SCRIPT)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_killed_training_leaves_no_running_run_and_no_usable_half_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())  # run monitoring + pid launcher
    uri = f"sqlite:///{home / 'mlflow.db'}"
    monkeypatch.setenv("SMX_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    uc = next(u for u in all_use_cases() if u.name == "heat")

    live = _start(home, uri, mode="hold")  # a live training process: its run must be left alone
    assert live.stdout is not None and live.stdout.readline().startswith("holding")
    killed = _start(home, uri)
    assert killed.wait(timeout=240) == -9

    client = reg.configure(uri)
    exp = client.get_experiment_by_name(uc.experiment_name)
    running = client.search_runs([exp.experiment_id], filter_string="attributes.status = 'RUNNING'")
    assert len(running) == 2  # the dead one and the live one
    mv = reg.latest_version(uc.model_name, client)
    assert mv is not None and mv.tags[run_hygiene.TAG_STATE] == run_hygiene.REGISTERING
    with pytest.raises(run_hygiene.UnreadyVersionError, match="never completed registration and evaluation"):
        reg.rollback(uc.model_name, mv.version, client=client)

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_launcher, PidCheckingRunLauncher) and instance.run_monitoring_enabled
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert len(started) == 2
        health = {r.run_id: worker_health(instance, r).status.value for r in started}
        assert sorted(health.values()) == ["FAILED", "RUNNING"]

        # The next training starts: the dead run is ended as KILLED, the live one stays.
        frame = pd.DataFrame({c: [1.0, 2.0] for c in uc.rule_baseline.feature_columns})
        with reg.training_run(uc.experiment_name, run_name="heat-next", client=client):
            reg.log_rule_model(uc.rule_baseline, frame)
        statuses = sorted(r.info.status for r in client.search_runs([exp.experiment_id]))
        assert statuses == ["FINISHED", "KILLED", "RUNNING"]
        dead = client.search_runs([exp.experiment_id], filter_string="attributes.status = 'KILLED'")[0]
        assert "is gone" in dead.data.tags[run_hygiene.TAG_ENDED_BY]
        assert run_hygiene.mark_incomplete(client, uc.model_name) == [str(mv.version)]
        with pytest.raises(run_hygiene.UnreadyVersionError, match="smx.state=incomplete"):
            reg.rollback(uc.model_name, mv.version, client=client)
        assert reg.rollback(uc.model_name, mv.version, client=client, force=True).new_version == str(mv.version)

        # Run monitoring's health check (what the daemon runs every poll interval) fails the dead run.
        t0 = time.monotonic()
        assert len(fail_dead_runs(instance)) == 1
        assert time.monotonic() - t0 < 60
        by_status = {r.status.value for r in instance.get_runs()}
        assert by_status == {"FAILURE", "STARTED"}  # the dead worker's run FAILED, the live one untouched
    live.kill()
    live.wait(timeout=30)
