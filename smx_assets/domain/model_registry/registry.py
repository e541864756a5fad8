"""The MLflow model registry for smx models: registration, aliases and loading by alias.

Part of the ``model_registry`` package. Aliases only (``champion``, ``challenger``); registry
stages are deprecated since MLflow 2.9 and never used. Scoring resolves an alias to a version
once and loads ``models:/NAME/VERSION`` (see the package docstring).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from smx_assets.domain import run_hygiene
from smx_assets.domain.model_registry.tracking import TAG_CODE_VERSION, TAG_KIND, TAG_USE_CASE, _client

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
_MISSING_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class NoModelError(LookupError):
    """No champion and no rule baseline registered: nothing can score."""


class ModelLoadError(RuntimeError):
    """A registered model version exists but cannot be loaded (artifact missing or corrupted).

    Scoring does not fall back to the rule baseline then: a champion that silently stopped
    scoring would hide the fault. The message names the model, version and artifact source.
    """


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
             tags: Mapping[str, str] | None = None, client: MlflowClient | None = None,
             complete: bool = True) -> str:
    """Register the model the run logged under ``artifact_name``; returns the new version.

    Registers from the LoggedModel (``models:/<model_id>``), which is where MLflow 3 stores
    model artifacts; ``runs:/<id>/model`` still works but warns that the run has no such
    artifact. The run's ``smx.model_kind``/``smx.use_case`` tags are copied onto the version.
    ``complete=False``: the version is created ``smx.state=registering`` and the caller calls
    :func:`run_hygiene.mark_ready` once it is evaluated and aliased (a crash in between leaves
    a version rollback refuses, see :mod:`run_hygiene`).
    """
    client = _client(client)
    run = client.get_run(run_id)
    inherited = {k: v for k, v in run.data.tags.items() if k in (TAG_KIND, TAG_USE_CASE, TAG_CODE_VERSION)}
    version_tags = {**inherited, **(tags or {}),
                    run_hygiene.TAG_STATE: run_hygiene.READY if complete else run_hygiene.REGISTERING}
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
    origin: str = "mlflow"  # where this run got it: "mlflow" (downloaded), "disk" (model cache), "memory"

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


def version_kind(mv: Any, client: MlflowClient | None = None) -> str | None:
    """``smx.model_kind`` of a version: its own tag, else its training run's (older versions)."""
    found = (mv.tags or {}).get(TAG_KIND)
    if found is None and mv.run_id:
        found = _client(client).get_run(mv.run_id).data.tags.get(TAG_KIND)
    return found


def load_version(mv: Any, *, alias: str | None, fallback: bool = False,
                 client: MlflowClient | None = None, cache_dir: Path | None = None) -> LoadedModel:
    """``mv`` (a ``ModelVersion``, or a :class:`~smx_assets.domain.model_registry.pins.PinnedVersion`)
    loaded for scoring: from this process's memory or the local model cache when an earlier run
    loaded it (``cache_dir``, see :mod:`model_cache`), else from MLflow (then kept). The client is
    only used when the version's kind is not known yet (a version loaded from the cache or
    pinned by the sensor needs no registry)."""
    from smx_assets.domain.model_registry import model_cache

    uri = f"models:/{mv.name}/{mv.version}"

    def from_mlflow(where: str) -> Any:
        try:
            # suppress_warnings skips MLflow's dependency-mismatch scan, which maps every installed
            # distribution to its modules (1.8 s per process, measured) on each scoring run; the
            # environment is one pinned set (constraints.txt) and each version records its code
            # version, so the scan can only repeat what the pins already guarantee.
            return mlflow.pyfunc.load_model(where, suppress_warnings=True)
        except Exception as exc:  # a missing or corrupted artifact: say which version, never fall back
            raise ModelLoadError(
                f"cannot load {mv.name} version {mv.version}"
                f"{f' (alias {alias})' if alias else ''} from {uri} (source {mv.source}): "
                f"{type(exc).__name__}: {str(exc)[:500]}"
            ) from exc

    def kind() -> str | None:
        return version_kind(mv, client)

    try:
        entry = model_cache.load(mv.name, str(mv.version), mv.source, mv.run_id, cache_dir=cache_dir,
                                 load_from=from_mlflow, kind=kind)
    except MlflowException as exc:  # the download itself failed: the same wording as a failed load
        raise ModelLoadError(f"cannot load {mv.name} version {mv.version}"
                             f"{f' (alias {alias})' if alias else ''} from {uri} (source {mv.source}): "
                             f"{type(exc).__name__}: {str(exc)[:500]}") from exc
    return LoadedModel(model=entry.model, name=mv.name, version=str(mv.version), run_id=mv.run_id, alias=alias,
                       kind=entry.kind or "ml", fallback=fallback, feature_columns=list(entry.feature_columns),
                       load_seconds=entry.seconds, origin=entry.origin)


def load_alias(name: str, alias: str, client: MlflowClient | None = None,
               cache_dir: Path | None = None) -> LoadedModel | None:
    """``name@alias`` loaded once, or None: for shadow (``challenger``) scoring, which must not
    fall back to anything — a missing challenger simply means no shadow scores."""
    client = _client(client)
    mv = get_alias_version(name, alias, client)
    return None if mv is None else load_version(mv, alias=alias, client=client, cache_dir=cache_dir)


def load_champion(name: str, *, fallback_name: str | None = None, alias: str = CHAMPION,
                  client: MlflowClient | None = None, cache_dir: Path | None = None) -> LoadedModel:
    """Load ``name@alias`` once; without it, the rule baseline (``<name>-rule``) stands in.

    The fallback takes the rule model's ``champion`` alias if set, else its newest version.
    Raises :class:`NoModelError` when neither exists, so scoring fails loudly rather than
    writing nothing.
    """
    client = _client(client)
    resolved = resolve_champion(name, fallback_name=fallback_name, alias=alias, client=client)
    if resolved.fallback:
        log.warning("no %s@%s: falling back to rule baseline %s v%s", name, alias, resolved.version.name,
                    resolved.version.version)
    return load_version(resolved.version, alias=resolved.alias, fallback=resolved.fallback, client=client,
                        cache_dir=cache_dir)


@dataclass(frozen=True)
class ResolvedChampion:
    """The version ``name@alias`` stands for now, without loading it: the rule baseline's when no
    champion is registered (``fallback``); ``alias`` is the alias it was found by (None: the rule's
    newest version)."""

    version: ModelVersion
    alias: str | None
    fallback: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.version.name, str(self.version.version))


def resolve_champion(name: str, *, fallback_name: str | None = None, alias: str = CHAMPION,
                     client: MlflowClient | None = None) -> ResolvedChampion:
    """Which version :func:`load_champion` would load (two or three registry look-ups, no
    artifact): a long-running server re-resolves it every minute and reloads only on a change.
    Raises :class:`NoModelError` when neither a champion nor a rule baseline exists."""
    client = _client(client)
    mv = get_alias_version(name, alias, client)
    if mv is not None:
        return ResolvedChampion(mv, alias, False)
    fb = fallback_name or f"{name}-rule"  # == rule_model_name_for(use case) for smx-<use case>
    fb_mv = get_alias_version(fb, CHAMPION, client)
    fb_alias: str | None = CHAMPION
    if fb_mv is None:
        fb_mv, fb_alias = latest_version(fb, client), None
    if fb_mv is None:
        raise NoModelError(f"no {name}@{alias} and no rule baseline {fb} registered")
    return ResolvedChampion(fb_mv, fb_alias, True)
