"""MLflow 3.17 tracking and registry for smx models: log, register, alias, promote, roll back.

Pure Python (no Dagster): the training/promotion assets, the scoring asset and ``smx rollback``
all call these functions, so the registry rules live in one place.

Conventions
-----------
* Registered models: ``smx-<use case>`` (ML versions, plus copies of a rule version when the
  baseline wins) and ``smx-<use case>-rule`` (rule baselines). Aliases only (``champion``,
  ``challenger``); registry stages are deprecated since MLflow 2.9 and never used.
* Every model version carries ``smx.model_kind`` = ``ml`` | ``rule``; rule baselines are
  :class:`RulePyfuncModel` pyfunc models logged and registered exactly like sklearn models.
* Tracking URI: ``Settings.from_env().mlflow_tracking_uri`` (``MLFLOW_TRACKING_URI``, else
  ``sqlite:///$SMX_HOME/mlflow.db``). For local stores the experiment's artifact location is set
  explicitly to ``file://$SMX_HOME/artifacts/<experiment>``; MLflow's default would be a folder
  relative to the current working directory, which differs between the CLI, ``dagster dev`` and
  run workers.
* Scoring resolves ``champion`` to a version once and loads ``models:/NAME/VERSION``: loading by
  alias and then reading the alias again would race with a promotion and record the wrong
  lineage on predictions.
* MLflow gates *every* sklearn load (skops included) and every cloudpickled pyfunc load behind
  ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` (default true in 3.17): a hardened deployment that sets
  it to false can no longer load any of our models.
* Promotion history lives in the registered-model tag ``smx.champion_history`` (JSON list of
  versions, newest last), which is what ``rollback`` walks back.

dagster-mlflow (0.29.27): why we do not use its ``mlflow_tracking`` resource
-------------------------------------------------------------------------
It opens one MLflow run per *Dagster run* at resource initialisation, found again through the
``dagster_run_id`` tag, and relies on the ``end_mlflow_on_run_finished`` job hook to end it. For
this platform that is the wrong unit and the wrong lifecycle:

* one Dagster run may train several use cases (a job or a multi-asset backfill); they would
  share one MLflow run and clash on parameters;
* asset materialisations launched from the UI or ``materialize()`` carry no hook, so the run
  stays RUNNING and the next materialisation in the same process silently *reuses* it (the
  resource catches "already active"); it also unregisters MLflow's ``atexit`` end_run, so a
  crashed worker leaves RUNNING runs behind;
* it calls ``mlflow.set_experiment`` without an artifact location (artifacts land relative to
  the worker's cwd) and is a legacy dict-configured ``@resource``, not a ``ConfigurableResource``.

What it does give — a shared tracking URI and a ``dagster_run_id`` tag — is one line each. So
training uses :func:`training_run`, a context manager that opens exactly one run per training
call and always ends it (FINISHED, or FAILED on an exception, KILLED on an interrupt), refusing
to reuse any active run left over in the thread. Callers add ``dagster_run_id`` to ``tags`` to
keep dagster-mlflow's lookup convention, and a thin ``ConfigurableResource`` on the Dagster side
only needs to carry the tracking URI.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from typing import Any, Literal
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from smx_assets.domain.use_cases.base import RuleModel
from smx_assets.settings import Settings, code_version

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_KIND = "smx.model_kind"  # "ml" | "rule"
TAG_USE_CASE = "smx.use_case"
TAG_CODE_VERSION = "smx.code_version"
TAG_HISTORY = "smx.champion_history"
TAG_COPIED_FROM = "smx.copied_from"
HISTORY_MAX = 50
_MISSING_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class NoModelError(LookupError):
    """No champion and no rule baseline registered: nothing can score."""


class ModelLoadError(RuntimeError):
    """A registered model version exists but cannot be loaded (artifact missing or corrupted).

    Scoring does not fall back to the rule baseline then: a champion that silently stopped
    scoring would hide the fault. The message names the model, version and artifact source.
    """


# ----------------------------------------------------------------------- configuration


def configure(tracking_uri: str | None = None) -> MlflowClient:
    """Point MLflow's fluent API at our store and return a client for the same store.

    Resolved on every call from the environment (not cached) so tests and the CLI that change
    ``MLFLOW_TRACKING_URI``/``SMX_HOME`` never talk to a stale store. Beware: MLflow's
    ``set_tracking_uri`` also *writes* ``MLFLOW_TRACKING_URI`` into ``os.environ`` (for
    subprocesses), so after ``configure(uri)`` ``Settings.from_env()`` reports ``uri`` too.
    The registry follows the tracking URI unless ``MLFLOW_REGISTRY_URI`` says otherwise; we do
    not call ``set_registry_uri`` because it also writes the environment and cannot unset it.
    """
    uri = tracking_uri or Settings.from_env().mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=os.environ.get("MLFLOW_REGISTRY_URI") or uri)


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
    all_tags = {TAG_CODE_VERSION: code_version(), **{k: str(v) for k, v in (tags or {}).items()}}
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags)
    run_id = run.info.run_id
    status = "FINISHED"
    try:
        yield run
    except Exception as exc:
        status = "FAILED"
        _safe_tag(client, run_id, "smx.error", f"{type(exc).__name__}: {exc}"[:4000])
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
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=RulePyfuncModel(rule),
        signature=signature,
        input_example=X.head(5),
        pip_requirements=pip_requirements("cloudpickle"),
        tags=model_tags,
    )


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


# ------------------------------------------------------------------------------ registry


def _missing(exc: MlflowException) -> bool:
    return getattr(exc, "error_code", None) in _MISSING_CODES


def ensure_registered_model(name: str, tags: Mapping[str, str] | None = None,
                            client: MlflowClient | None = None) -> None:
    client = _client(client)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if not _missing(exc):
            raise
        try:
            client.create_registered_model(name, tags=dict(tags or {}))
        except MlflowException as exc2:
            if getattr(exc2, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise


def _logged_model_id(client: MlflowClient, run_id: str, artifact_name: str) -> str | None:
    """The MLflow 3 LoggedModel a run produced under ``artifact_name`` (newest if several)."""
    run = client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs else []
    found = None
    for out in outputs:
        if client.get_logged_model(out.model_id).name == artifact_name:
            found = out.model_id
    return found


def register(run_id: str, name: str, *, artifact_name: str = "model",
             tags: Mapping[str, str] | None = None, client: MlflowClient | None = None) -> str:
    """Register the model the run logged under ``artifact_name``; returns the new version.

    Registers from the LoggedModel (``models:/<model_id>``), which is where MLflow 3 stores
    model artifacts; ``runs:/<id>/model`` still works but warns that the run has no such
    artifact. The run's ``smx.model_kind``/``smx.use_case`` tags are copied onto the version.
    """
    client = _client(client)
    run = client.get_run(run_id)
    inherited = {k: v for k, v in run.data.tags.items() if k in (TAG_KIND, TAG_USE_CASE, TAG_CODE_VERSION)}
    version_tags = {**inherited, **(tags or {})}
    ensure_registered_model(name, {k: v for k, v in version_tags.items() if k in (TAG_KIND, TAG_USE_CASE)}, client)
    model_id = _logged_model_id(client, run_id, artifact_name)
    if model_id is None:
        source, kwargs = f"runs:/{run_id}/{artifact_name}", {}
    else:
        source, kwargs = f"models:/{model_id}", {"model_id": model_id}
    mv = client.create_model_version(name=name, source=source, run_id=run_id, tags=version_tags, **kwargs)
    return str(mv.version)


def set_alias(name: str, alias: str, version: str | int, client: MlflowClient | None = None) -> None:
    _client(client).set_registered_model_alias(name, alias, str(version))


def get_alias_version(name: str, alias: str, client: MlflowClient | None = None) -> ModelVersion | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist."""
    try:
        return _client(client).get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise


def latest_version(name: str, client: MlflowClient | None = None) -> ModelVersion | None:
    versions = _client(client).search_model_versions(f"name = '{name}'")
    return max(versions, key=lambda v: int(v.version), default=None)


# ---------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    """A model loaded once for a scoring run, with the lineage every prediction records."""

    model: Any  # mlflow.pyfunc.PyFuncModel
    name: str
    version: str
    run_id: str | None
    alias: str | None
    kind: str  # "ml" | "rule"
    fallback: bool = False  # True when no champion existed and the rule baseline stands in
    feature_columns: list[str] = field(default_factory=list)
    load_seconds: float = 0.0

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores in [0, 1]: P(positive) for classifiers (``predict_proba`` column 1), the rule
        score for rules. Only the signature's columns are passed, so extra columns in the
        feature frame are fine and do not trigger MLflow's schema warning."""
        X = frame[self.feature_columns] if self.feature_columns else frame
        out = self.model.predict(X)
        arr = out.to_numpy() if isinstance(out, (pd.DataFrame, pd.Series)) else np.asarray(out)
        arr = arr.astype("float64")
        if arr.ndim == 2:
            arr = arr[:, -1] if arr.shape[1] >= 2 else arr[:, 0]
        return np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0)


def load_version(mv: ModelVersion, *, alias: str | None, fallback: bool = False,
                 client: MlflowClient | None = None) -> LoadedModel:
    client = _client(client)
    t0 = time.perf_counter()
    uri = f"models:/{mv.name}/{mv.version}"
    try:
        # suppress_warnings skips MLflow's dependency-mismatch scan, which maps every installed
        # distribution to its modules (1.8 s per process, measured) on each scoring run; the
        # environment is one pinned set (constraints.txt) and each version records its code
        # version, so the scan can only repeat what the pins already guarantee.
        model = mlflow.pyfunc.load_model(uri, suppress_warnings=True)
    except Exception as exc:  # a missing or corrupted artifact: say which version, never fall back
        raise ModelLoadError(
            f"cannot load {mv.name} version {mv.version}"
            f"{f' (alias {alias})' if alias else ''} from {uri} (source {mv.source}): "
            f"{type(exc).__name__}: {str(exc)[:500]}"
        ) from exc
    seconds = time.perf_counter() - t0
    schema = model.metadata.get_input_schema()
    kind = (mv.tags or {}).get(TAG_KIND)
    if kind is None and mv.run_id:
        kind = client.get_run(mv.run_id).data.tags.get(TAG_KIND)
    return LoadedModel(model=model, name=mv.name, version=str(mv.version), run_id=mv.run_id, alias=alias,
                       kind=kind or "ml", fallback=fallback,
                       feature_columns=schema.input_names() if schema is not None else [],
                       load_seconds=seconds)


def load_alias(name: str, alias: str, client: MlflowClient | None = None) -> LoadedModel | None:
    """``name@alias`` loaded once, or None: for shadow (``challenger``) scoring, which must not
    fall back to anything — a missing challenger simply means no shadow scores."""
    client = _client(client)
    mv = get_alias_version(name, alias, client)
    return None if mv is None else load_version(mv, alias=alias, client=client)


def load_champion(name: str, *, fallback_name: str | None = None, alias: str = CHAMPION,
                  client: MlflowClient | None = None) -> LoadedModel:
    """Load ``name@alias`` once; without it, the rule baseline (``<name>-rule``) stands in.

    The fallback takes the rule model's ``champion`` alias if set, else its newest version.
    Raises :class:`NoModelError` when neither exists, so scoring fails loudly rather than
    writing nothing.
    """
    client = _client(client)
    mv = get_alias_version(name, alias, client)
    if mv is not None:
        return load_version(mv, alias=alias, client=client)
    fb = fallback_name or f"{name}-rule"  # == rule_model_name_for(use case) for smx-<use case>
    fb_mv = get_alias_version(fb, CHAMPION, client)
    fb_alias: str | None = CHAMPION
    if fb_mv is None:
        fb_mv, fb_alias = latest_version(fb, client), None
    if fb_mv is None:
        raise NoModelError(f"no {name}@{alias} and no rule baseline {fb} registered")
    log.warning("no %s@%s: falling back to rule baseline %s v%s", name, alias, fb, fb_mv.version)
    return load_version(fb_mv, alias=fb_alias, fallback=True, client=client)


# -------------------------------------------------------------------------- promotion


@dataclass(frozen=True)
class PromotionDecision:
    """Whether ``champion`` moves, to what, and why (recorded as tags and asset metadata)."""

    promote: bool
    winner: Literal["challenger", "baseline", "champion"]
    reason: str
    numbers: dict[str, float]
    first_time: bool
    primary: str = "f1"

    def as_tags(self, prefix: str = "smx.promotion.") -> dict[str, str]:
        return {f"{prefix}decision": "promoted" if self.promote else "rejected",
                f"{prefix}winner": self.winner,
                f"{prefix}reason": self.reason[:4000],
                f"{prefix}primary": self.primary,
                f"{prefix}numbers": json.dumps(self.numbers, sort_keys=True, default=float),
                f"{prefix}decided_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _metric(metrics: Mapping[str, Any] | None, key: str) -> float:
    if metrics is None:
        return math.nan
    v = metrics.get(key)
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


_CONTEXT_METRICS = ("sensitivity", "precision", "lead_time_median_h", "false_alerts_per_100_cow_days")


def decide_promotion(
    challenger_metrics: Mapping[str, Any],
    champion_metrics: Mapping[str, Any] | None,
    baseline_metrics: Mapping[str, Any],
    margin: float = 0.02,
    *,
    primary: str = "f1",
) -> PromotionDecision:
    """Decide on the primary metric (event-level F1 by default; higher is better).

    * No champion yet: the better of challenger and rule baseline becomes champion. A tie, or a
      challenger without a usable number, goes to the baseline: it is simpler and explainable.
    * Otherwise the challenger must beat BOTH the champion and the baseline by at least
      ``margin`` (absolute, in metric units); a missing (NaN) number never promotes. Beating
      only the champion is not enough: a champion that has decayed below the rule should not
      be replaced by another model that is still no better than the rule.
    """
    c = _metric(challenger_metrics, primary)
    b = _metric(baseline_metrics, primary)
    numbers = {f"challenger_{primary}": c, f"baseline_{primary}": b, "margin": float(margin)}
    # Context for the recorded decision (not used to decide): the event-level companions.
    for who, m in (("challenger", challenger_metrics), ("champion", champion_metrics), ("baseline", baseline_metrics)):
        for key in _CONTEXT_METRICS:
            if m is not None and key in m and key != primary:
                numbers[f"{who}_{key}"] = _metric(m, key)
    if champion_metrics is None:
        if not math.isnan(c) and (math.isnan(b) or c > b):
            return PromotionDecision(True, "challenger", f"first champion: challenger {primary} {c:.4f} "
                                     f"beats rule baseline {b:.4f}", numbers, True, primary)
        return PromotionDecision(True, "baseline", f"first champion: rule baseline {primary} {b:.4f} is not "
                                 f"beaten by challenger {c:.4f}", numbers, True, primary)
    h = _metric(champion_metrics, primary)
    numbers[f"champion_{primary}"] = h
    if any(math.isnan(x) for x in (c, h, b)):
        return PromotionDecision(False, "champion", f"missing {primary}: challenger {c}, champion {h}, "
                                 f"baseline {b}; champion kept", numbers, False, primary)
    beats_champion = c >= h + margin
    beats_baseline = c >= b + margin
    if beats_champion and beats_baseline:
        return PromotionDecision(True, "challenger", f"challenger {primary} {c:.4f} beats champion {h:.4f} "
                                 f"and baseline {b:.4f} by >= {margin}", numbers, False, primary)
    why = []
    if not beats_champion:
        why.append(f"champion {h:.4f}")
    if not beats_baseline:
        why.append(f"baseline {b:.4f}")
    return PromotionDecision(False, "champion", f"challenger {primary} {c:.4f} does not beat "
                             f"{' and '.join(why)} by {margin}; champion kept", numbers, False, primary)


def champion_history(name: str, client: MlflowClient | None = None) -> list[str]:
    tags = _client(client).get_registered_model(name).tags or {}
    try:
        return [str(v) for v in json.loads(tags.get(TAG_HISTORY, "[]"))]
    except (TypeError, ValueError):
        return []


def _set_history(client: MlflowClient, name: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, TAG_HISTORY, json.dumps(history[-HISTORY_MAX:]))


def _move_champion(client: MlflowClient, name: str, version: str) -> None:
    """Point ``champion`` at ``version`` and append it to the history (if it is not the last)."""
    history = champion_history(name, client)
    current = get_alias_version(name, CHAMPION, client)
    if current is not None and (not history or history[-1] != str(current.version)):
        history.append(str(current.version))  # alias moved by hand (UI): keep the trail honest
    client.set_registered_model_alias(name, CHAMPION, version)
    if not history or history[-1] != version:
        history.append(version)
    _set_history(client, name, history)


def apply_promotion(
    decision: PromotionDecision,
    *,
    model_name: str,
    challenger_version: str | int | None,
    baseline_model_name: str | None = None,
    baseline_version: str | int | None = None,
    run_id: str | None = None,
    client: MlflowClient | None = None,
) -> str | None:
    """Carry out ``decision``: move ``champion`` and record the decision; returns the new
    champion version of ``model_name`` (None when it stays).

    When the rule baseline wins, its version is copied into ``model_name`` (tagged
    ``smx.model_kind=rule``), so scoring always loads ``models:/smx-<uc>@champion`` whatever
    won. The decision is tagged on the challenger version (promoted or rejected), on the new
    champion version, and on ``run_id`` (the promotion's MLflow run) when given.
    """
    client = _client(client)
    tags = decision.as_tags()
    previous = get_alias_version(model_name, CHAMPION, client)
    tags["smx.promotion.previous_champion"] = str(previous.version) if previous else ""
    new_version: str | None = None
    if decision.promote:
        if decision.winner == "challenger":
            if challenger_version is None:
                raise ValueError("challenger won but no challenger_version given")
            new_version = str(challenger_version)
        elif decision.winner == "baseline":
            if baseline_model_name is None or baseline_version is None:
                raise ValueError("baseline won but no baseline model/version given")
            src = f"{baseline_model_name}/{baseline_version}"
            ensure_registered_model(model_name, client=client)
            copied = client.copy_model_version(f"models:/{src}", model_name)
            new_version = str(copied.version)
            client.set_model_version_tag(model_name, new_version, TAG_KIND, "rule")
            client.set_model_version_tag(model_name, new_version, TAG_COPIED_FROM, src)
        else:  # pragma: no cover - decide_promotion never produces this
            raise ValueError(f"cannot promote winner {decision.winner!r}")
        _move_champion(client, model_name, new_version)
        tags["smx.promotion.new_champion"] = new_version
    # Per version, "decision" says what happened to *that* version: a challenger that lost to
    # the baseline is "rejected" even though champion moved.
    targets: dict[str, str] = {}
    if challenger_version is not None:
        targets[str(challenger_version)] = "rejected"
    if new_version is not None:
        targets[new_version] = "promoted"
    for v, outcome in targets.items():
        for k, val in {**tags, "smx.promotion.decision": outcome}.items():
            client.set_model_version_tag(model_name, v, k, val)
    if run_id is not None:
        for k, val in tags.items():
            client.set_tag(run_id, k, val)
    return new_version


# --------------------------------------------------------------------------- rollback


@dataclass(frozen=True)
class RollbackResult:
    name: str
    old_version: str | None
    new_version: str


def rollback(name: str, to_version: str | int | None = None, *,
             client: MlflowClient | None = None) -> RollbackResult:
    """Point ``champion`` back: to ``to_version``, or by default to the previous champion.

    The default walks the ``smx.champion_history`` tag one step back and drops the current
    entry, so repeated rollbacks keep going back. Rolling to an explicit version appends it,
    like a promotion would. Both versions are tagged with what happened and when.
    """
    client = _client(client)
    current = get_alias_version(name, CHAMPION, client)
    old = str(current.version) if current is not None else None
    history = champion_history(name, client)
    if old is not None and (not history or history[-1] != old):
        history.append(old)
    if to_version is None:
        if len(history) < 2:
            raise NoModelError(f"{name}: no previous champion to roll back to (history {history})")
        new = history[-2]
        history = history[:-1]
    else:
        new = str(to_version)
        client.get_model_version(name, new)  # raises if it does not exist
        if not history or history[-1] != new:
            history.append(new)
    client.set_registered_model_alias(name, CHAMPION, new)
    _set_history(client, name, history)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    client.set_model_version_tag(name, new, "smx.rollback.restored_at", now)
    client.set_model_version_tag(name, new, "smx.rollback.from_version", old or "")
    if old is not None and old != new:
        client.set_model_version_tag(name, old, "smx.rollback.rolled_back_at", now)
    return RollbackResult(name=name, old_version=old, new_version=new)
