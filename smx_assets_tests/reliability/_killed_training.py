"""A training worker that dies mid-registration (``test_crash_state``): inside a Dagster run of a
persistent instance it opens a training run, logs a model, registers a version of
``smx-heat`` and is SIGKILLed before evaluation completes and the version is marked ready.
With ``KILLED_TRAINING_MODE=hold`` it instead keeps its run open (a live process) until killed.
Configured through ``MLFLOW_TRACKING_URI``, ``SMX_HOME`` and ``DAGSTER_HOME``."""

import os
import signal
import time

import dagster as dg
import pandas as pd

from smx_assets.domain import model_registry as reg
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.run_health import worker_tag


@dg.op
def train_and_die() -> None:
    uc = next(u for u in all_use_cases() if u.name == "heat")
    frame = pd.DataFrame({c: [1.0, 2.0, 3.0] for c in uc.rule_baseline.feature_columns})
    client = reg.configure(os.environ["MLFLOW_TRACKING_URI"])
    with reg.training_run(uc.experiment_name, run_name="heat-killed", client=client) as run:
        reg.log_rule_model(uc.rule_baseline, frame)
        if os.environ.get("KILLED_TRAINING_MODE") == "hold":
            print("holding", run.info.run_id, flush=True)
            time.sleep(600)
        reg.register(run.info.run_id, uc.model_name, client=client, complete=False)
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup: the run stays RUNNING, the version half-registered


@dg.job
def killed_training_job() -> None:
    train_and_die()


if __name__ == "__main__":
    killed_training_job.execute_in_process(instance=dg.DagsterInstance.get(), tags=worker_tag())
    raise SystemExit("the run finished although it should have been killed")
