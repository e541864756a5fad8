"""MLflow tracking for smx models: the client, experiments, training runs and model logging.

Part of the ``model_registry`` package (see its docstring for the conventions and why
dagster-mlflow is not used). Lowest of the three modules: ``registry`` and ``promotion`` build
on it. Every function takes the ``MlflowClient`` to use (Dagster code passes
``MlflowResource.client()``); ``None`` falls back to :func:`configure`, which the CLI and
tests use outside Dagster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from smx_assets.domain import run_hygiene
from smx_assets.domain.mlflow_uri import for_mlflow
from smx_assets.domain.redaction import redact
from smx_assets.domain.use_cases.base import RuleModel
from smx_assets.settings import Settings, code_version

log = logging.getLogger(__name__)

TAG_KIND = "smx.model_kind"  # "ml" | "rule"
TAG_USE_CASE = "smx.use_case"
TAG_CODE_VERSION = "smx.code_version"


# ----------------------------------------------------------------------- configuration


def configure(tracking_uri: str | None = None) -> MlflowClient:
    """Point MLflow's fluent API at our store and return a client for the same store.

    Resolved on every call from the environment (not cached) so tests and the CLI that change
    ``MLFLOW_TRACKING_URI``/``SMX_HOME`` never talk to a stale store. Beware: MLflow's
    ``set_tracking_uri`` also *writes* ``MLFLOW_TRACKING_URI`` into the process environment (for
    subprocesses), so after ``configure(uri)`` ``Settings.from_env()`` reports ``uri`` too.
    The registry follows the tracking URI unless ``MLFLOW_REGISTRY_URI`` says otherwise; we do
    not call ``set_registry_uri`` because it also writes the environment and cannot unset it.
    """
    settings = Settings.from_env()
    uri = for_mlflow(tracking_uri or settings.mlflow_tracking_uri)  # no password inside, store created
    mlflow.set_tracking_uri(uri)
    registry = settings.mlflow_registry_uri
    return MlflowClient(tracking_uri=uri, registry_uri=for_mlflow(registry) if registry else uri)


def _client(client: MlflowClient | None) -> MlflowClient:
    return client if client is not None else configure()


def artifact_location_for(experiment_name: str, tracking_uri: str) -> str | None:
    """``file://$SMX_HOME/artifacts/<experiment>`` for local stores; server default otherwise."""
    if urlparse(tracking_uri).scheme in ("http", "https", "databricks"):
        return None
    return (Settings.from_env().home / "artifacts" / experiment_name).as_uri()


def ensure_experiment(name: str, client: MlflowClient | None = None) -> str:
    """The experiment's id, created with an explicit artifact location (or restored) if needed."""
    client = _client(client)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(
                name, artifact_location=artifact_location_for(name, client.tracking_uri))
        except MlflowException as exc:  # created concurrently by another process
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise exc
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    wanted = artifact_location_for(name, client.tracking_uri)
    if wanted is not None and exp.artifact_location.rstrip("/") != wanted.rstrip("/"):
        # Created by something else (e.g. dagster-mlflow's set_experiment): MLflow cannot move
        # it, so say where the artifacts really go.
        log.warning("experiment %s stores artifacts at %s, not %s", name, exp.artifact_location, wanted)
    return exp.experiment_id


def pip_requirements(*packages: str) -> list[str]:
    """Exact pins of the packages a model needs, from this environment.

    Passing them explicitly skips MLflow's requirement inference (3-4 s per log, and it
    imports the model in a subprocess).
    """
    pins = []
    for p in ("mlflow", "pandas", "numpy", *packages):
        try:
            pins.append(f"{p}=={pkg_version(p)}")
        except PackageNotFoundError:
            pins.append(p)
    return pins


# ---------------------------------------------------------------------- training runs


def _end_leftover_runs(reason: str) -> None:
    """End any run still active in this thread: it is a leak, and reusing it mixes runs."""
    while (active := mlflow.active_run()) is not None:
        log.warning("ending leftover active MLflow run %s (%s) as KILLED", active.info.run_id, reason)
        try:
            mlflow.set_tag("smx.ended_as_leftover", reason)
        finally:
            mlflow.end_run("KILLED")


@contextmanager
def training_run(
    experiment_name: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    client: MlflowClient | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Exactly one MLflow run for one training call, always ended.

    * A run left active in this thread (dagster-mlflow style leak, an earlier crash) is ended
      as KILLED first, never reused.
    * The body's exception ends the run FAILED (KILLED for interrupts such as
      KeyboardInterrupt or Dagster's run termination) and is re-raised; nested runs the body
      left open are ended with the same status.
    * Afterwards the store is checked, so even a body that ended the run itself leaves a
      terminal status that matches the outcome.
    """
    client = _client(client)
    experiment_id = ensure_experiment(experiment_name, client)
    _end_leftover_runs("a new training run started")
    run_hygiene.end_dead_runs(client, experiment_id)  # RUNNING runs of killed processes: KILLED
    all_tags = {TAG_CODE_VERSION: code_version(), **run_hygiene.process_tags(),
                **{k: str(v) for k, v in (tags or {}).items()}}
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags)
    run_id = run.info.run_id
    status = "FINISHED"
    try:
        yield run
    except Exception as exc:
        status = "FAILED"
        _safe_tag(client, run_id, "smx.error", redact(f"{type(exc).__name__}: {exc}")[:4000])
        raise
    except BaseException as exc:
        status = "KILLED"
        _safe_tag(client, run_id, "smx.error", type(exc).__name__)
        raise
    finally:
        while (active := mlflow.active_run()) is not None:
            mine = active.info.run_id == run_id
            mlflow.end_run(status)
            if mine:
                break
        stored = client.get_run(run_id).info.status
        if stored == "RUNNING" or (status != "FINISHED" and stored == "FINISHED"):
            client.set_terminated(run_id, status)


def _safe_tag(client: MlflowClient, run_id: str, key: str, value: str) -> None:
    try:
        client.set_tag(run_id, key, value)
    except Exception:  # pragma: no cover - the original exception matters more
        log.exception("could not tag run %s", run_id)


# -------------------------------------------------------------------------- model logging


class RulePyfuncModel(mlflow.pyfunc.PythonModel):
    """A :class:`RuleModel` as an MLflow pyfunc model: scores in [0, 1], one per row.

    Kept so rule versions registered before rules were logged from code (CloudPickle) still
    load; new versions are logged with ``rule_model_code.py``.

    The rule's function is pickled by reference (module + name), so the loading process needs
    ``smx_assets`` importable; the run's ``smx.code_version`` tag says which code that was.
    """

    def __init__(self, rule: RuleModel) -> None:
        self.rule = rule

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None):  # noqa: ANN201
        return self.rule.score(model_input)


def log_rule_model(
    rule: RuleModel, input_example: pd.DataFrame, *, name: str = "model",
    tags: Mapping[str, str] | None = None,
) -> ModelInfo:
    """Log a rule baseline into the active run (see :func:`training_run`), tagged as a rule."""
    X = input_example[list(rule.feature_columns)]
    signature = infer_signature(X, rule.score(X))
    mlflow.log_params({f"rule.{k}": v for k, v in rule.params.items()})
    model_tags = {TAG_KIND: "rule", "smx.rule_name": rule.name, **(tags or {})}
    mlflow.set_tags(model_tags)
    # Models from code: MLflow stores rule_model_code.py and this config, and loading runs the
    # file (importing the rule's function by name) instead of unpickling an object.
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(Path(__file__).with_name("rule_model_code.py")),
        model_config=rule_config(rule),
        signature=signature,
        input_example=X.head(5),
        pip_requirements=pip_requirements(),
        tags=model_tags,
    )


def rule_config(rule: RuleModel) -> dict[str, Any]:
    """The model config that names a rule completely (see ``rule_model_code.py``)."""
    return {"name": rule.name, "function": f"{rule.fn.__module__}:{rule.fn.__qualname__}",
            "params": dict(rule.params), "feature_columns": list(rule.feature_columns)}


def log_sklearn_model(
    model: Any, input_example: pd.DataFrame, *, name: str = "model",
    pyfunc_predict_fn: str = "predict_proba", tags: Mapping[str, str] | None = None,
) -> ModelInfo:
    """Log a fitted sklearn estimator/pipeline into the active run, skops-serialised.

    ``skops_trusted_types`` is computed from the model itself (``skops.io.get_untrusted_types``:
    e.g. ``sklearn.tree._tree.Tree`` for tree ensembles) instead of a hand-kept list that breaks
    the first time someone swaps the estimator. The pyfunc flavour calls ``predict_proba`` so
    scoring gets probabilities; :meth:`LoadedModel.predict_scores` takes the positive column.
    """
    import skops.io

    out = getattr(model, pyfunc_predict_fn)(input_example)
    signature = infer_signature(input_example, out)
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    model_tags = {TAG_KIND: "ml", **(tags or {})}
    mlflow.set_tags(model_tags)
    return mlflow.sklearn.log_model(
        sk_model=model,
        name=name,
        signature=signature,
        input_example=input_example.head(5),
        pip_requirements=pip_requirements("scikit-learn", "scipy", "skops"),
        serialization_format="skops",
        skops_trusted_types=trusted,
        pyfunc_predict_fn=pyfunc_predict_fn,
        tags=model_tags,
    )
