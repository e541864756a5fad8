"""One real MLflow sqlite tracking store per test module.

Creating the store runs MLflow's migrations (seconds), so tests share it and isolate
themselves by registered-model and experiment names instead. ``mlflow.set_tracking_uri`` also
writes ``MLFLOW_TRACKING_URI`` into ``os.environ``; teardown undoes both so no later test
talks to this store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    import mlflow

    from smx_assets.domain import model_registry

    home = tmp_path_factory.mktemp("smx_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMX_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        model_registry.configure()
        try:
            yield home
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run("KILLED")
            mlflow.set_tracking_uri(None)  # also unsets the env var it wrote
