"""A run worker that dies mid-run: scores one bucket and is SIGKILLed right after its predictions
were committed (the prediction writer closed, every chunk's write done), before alerts
(``test_concurrency``). Configured through the environment:
``SMX_*``/``MLFLOW_TRACKING_URI`` (stores), ``DAGSTER_HOME`` (a persistent instance) and
``KILLED_RUN_PARTITION``."""

import os
import signal

import dagster as dg

from smx_assets.domain.scoring.prediction_writer import PredictionWriter


def _die(*_args: object, **_kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no run-failure event: a lost worker


def _close_then_die(writer: PredictionWriter, _close=PredictionWriter.close) -> None:  # type: ignore[no-untyped-def]
    _close(writer)
    _die()


if __name__ == "__main__":
    PredictionWriter.close = _close_then_die  # type: ignore[method-assign]
    # Only the scoring asset (not every definition: monitoring imports Evidently, seconds more).
    from smx_assets.defs.ingest.assets import SOURCE_SPECS
    from smx_assets.defs.scoring.assets import scores
    from smx_assets.resources import default_resources

    dg.materialize([scores, *SOURCE_SPECS], selection=[scores], resources=default_resources(),
                   instance=dg.DagsterInstance.get(), partition_key=os.environ["KILLED_RUN_PARTITION"])
    raise SystemExit("the run finished although it should have been killed")
