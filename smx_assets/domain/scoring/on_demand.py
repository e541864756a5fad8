"""On-demand scoring of one cow's bucket: the batch run's answer, computed on request.

An app asks for a cow's current score; the batch run scores every cow every ten minutes. Both
must give the same number, so the on-demand path shares every step with the batch run:

* features through the serving path (:func:`~smx_assets.domain.features.serving.bucket_features`:
  the bucket's trailing window of the store, the day's stored baselines, ``compute_features``),
  restricted to the one cow — every feature reads the cow's own records and its farm's climate
  only, so one cow's vector is the one a herd-wide call computes for it;
* the signal gate (a collar cow has no calving or fever score in the batch run either);
* the models the batch run would load now: ``champion`` (the rule baseline standing in when none
  is registered) and ``challenger`` as the shadow, resolved by :mod:`model_registry.registry`.

:class:`LiveModels` keeps the loaded models of a long-running process and re-resolves the aliases
every ``ttl_s`` seconds (a few registry look-ups; an artifact is loaded only when a version
changed), so a promotion or rollback is served within ``ttl_s`` without a restart.
:class:`TimedCache` keeps the herd records and a day's baselines the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from smx_assets.domain.features.profile import FarmRecords, active_animals
from smx_assets.domain.features.serving import bucket_features
from smx_assets.domain.features.storage import FeatureFiles
from smx_assets.domain.model_registry.registry import (
    CHALLENGER,
    LoadedModel,
    get_alias_version,
    load_version,
    resolve_champion,
)
from smx_assets.domain.scoring.engine import ModelSet
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import BUCKET, day_start, floor_bucket, utc
from smx_assets.domain.use_cases.base import UseCase, signal_gate

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotScorable(LookupError):
    """The cow has no score for this bucket in the batch run either (the message says why)."""


@dataclass(frozen=True)
class RoleScore:
    score: float
    model: str
    version: str
    alias: str | None
    fallback: bool = False


@dataclass(frozen=True)
class OnDemandScore:
    use_case: str
    animal_id: int
    bucket_start: pd.Timestamp
    champion: RoleScore
    shadow: list[RoleScore]
    n_readings: int  # the cow's readings inside the bucket


class TimedCache(Generic[T]):
    """One value recomputed when older than ``ttl_s`` (thread-safe; one computation at a time).

    With ``token`` (a cheap "has the source changed?" value, e.g.
    :class:`~smx_assets.domain.table_changes.ChangeToken`), a due recomputation first compares
    the token with the one taken before the last computation and keeps the value when it has
    not moved, up to ``max_age_s`` after the last real computation. The token is read before
    computing, so a change made during a computation is seen at the next one. ``computations``
    counts the real ones (what a test or a log line can check).
    """

    def __init__(self, compute: Callable[[], T], ttl_s: float, clock: Callable[[], float] = time.monotonic,
                 token: Callable[[], Hashable | None] | None = None, max_age_s: float = float("inf")) -> None:
        self._compute, self.ttl_s, self._clock = compute, ttl_s, clock
        self._token, self.max_age_s = token, max_age_s
        self._value: T | None = None
        self._at = -float("inf")
        self._computed_at = -float("inf")
        self._last_token: Hashable | None = None
        self.computations = 0
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._clock() - self._at < self.ttl_s:
            return self._value  # type: ignore[return-value]
        with self._lock:
            if self._clock() - self._at >= self.ttl_s:
                self._update()
        return self._value  # type: ignore[return-value]

    def refresh(self) -> None:
        """Recompute now if the source changed (a background refresher: readers keep the old
        value meanwhile)."""
        with self._lock:
            self._update()

    def _update(self) -> None:
        token = self._token() if self._token is not None else None
        now = self._clock()
        if (token is not None and token == self._last_token and self.computations
                and now - self._computed_at < self.max_age_s):
            self._at = now
            return
        self._value = self._compute()
        self._at = self._computed_at = self._clock()
        self._last_token = token
        self.computations += 1


@dataclass
class LiveModels:
    """Each use case's champion and shadow as the registry names them now, cached ``ttl_s``.

    The resolved versions are cached (a promotion is seen after at most ``ttl_s``); a loaded
    model stays loaded as long as its version is the one resolved (versions never change
    content, so a version is loaded once per process).
    """

    use_cases: Sequence[UseCase]
    client: Any
    ttl_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _sets: dict[str, ModelSet] = field(default_factory=dict)
    _resolved_at: float = -float("inf")
    _loaded: dict[tuple[str, str], LoadedModel] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    errors: dict[str, str] = field(default_factory=dict)  # use case -> why it has no model

    @property
    def use_case_names(self) -> list[str]:
        return [uc.name for uc in self.use_cases]

    def get(self, use_case: str) -> ModelSet:
        """The use case's models (:class:`LookupError` naming what is missing when it has none)."""
        sets = self.current()
        if use_case not in sets:
            raise LookupError(self.errors.get(use_case, f"no models for use case {use_case}"))
        return sets[use_case]

    def current(self) -> dict[str, ModelSet]:
        if self.clock() - self._resolved_at >= self.ttl_s:
            with self._lock:
                if self.clock() - self._resolved_at >= self.ttl_s:
                    self._refresh()
        return self._sets

    def refresh(self) -> None:
        """Resolve the aliases now (a background refresher: readers keep the old models meanwhile)."""
        with self._lock:
            self._refresh()

    def _load(self, mv: Any, alias: str | None, fallback: bool) -> LoadedModel:
        key = (mv.name, str(mv.version))
        model = self._loaded.get(key)
        if model is None or model.alias != alias or model.fallback != fallback:
            model = load_version(mv, alias=alias, fallback=fallback, client=self.client)
            self._loaded[key] = model
        return model

    def _refresh(self) -> None:
        sets: dict[str, ModelSet] = {}
        errors: dict[str, str] = {}
        for uc in self.use_cases:
            try:
                resolved = resolve_champion(uc.model_name, fallback_name=uc.rule_model_name, client=self.client)
                champion = self._load(resolved.version, resolved.alias, resolved.fallback)
                mv = get_alias_version(uc.model_name, CHALLENGER, self.client)
                challenger = None if mv is None else self._load(mv, CHALLENGER, False)
                if challenger is not None and challenger.version == champion.version and not champion.fallback:
                    challenger = None  # the challenger was promoted (the batch run's rule, load_model_sets)
                sets[uc.name] = ModelSet(uc, champion, challenger)
            except Exception as exc:  # noqa: BLE001 - one use case without a model keeps the others serving
                old = self._sets.get(uc.name)
                errors[uc.name] = f"{uc.name}: {type(exc).__name__}: {exc}"
                if old is not None:  # a registry that did not answer: keep serving what was resolved
                    sets[uc.name] = old
                log.warning("models of %s not resolved: %s", uc.name, errors[uc.name])
        keep = {(m.name, str(m.version)) for ms in sets.values() for m in (ms.champion, ms.challenger) if m}
        self._loaded = {k: v for k, v in self._loaded.items() if k in keep}
        self._sets, self.errors = sets, errors
        self._resolved_at = self.clock()


class BaselineDays:
    """Stored baselines per day, re-read after ``ttl_s`` (a day's file is written once a day)."""

    def __init__(self, files: FeatureFiles, ttl_s: float) -> None:
        self.files, self.ttl_s = files, ttl_s
        self._days: dict[pd.Timestamp, TimedCache[pd.DataFrame | None]] = {}
        self._lock = threading.Lock()

    def of(self, day: pd.Timestamp, animal_id: int) -> pd.DataFrame | None:
        with self._lock:
            cache = self._days.get(day)
            if cache is None:
                if len(self._days) >= 8:
                    self._days.pop(next(iter(self._days)))
                cache = self._days[day] = TimedCache(lambda: _sorted(self.files.read_baselines([day])), self.ttl_s)
        frame = cache.get()
        if frame is None:
            return None
        ids = frame["animal_id"].to_numpy()
        i0, i1 = int(np.searchsorted(ids, animal_id, side="left")), int(np.searchsorted(ids, animal_id, side="right"))
        return frame.iloc[i0:i1]


def _sorted(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame.iloc[np.argsort(frame["animal_id"].to_numpy(), kind="stable")].reset_index(drop=True)


def score_bucket(store: SensorStore, records: FarmRecords, baselines: pd.DataFrame | FeatureFiles | BaselineDays | None,
                 models: ModelSet, animal_id: int, at: pd.Timestamp, known_at: pd.Timestamp | None = None
                 ) -> OnDemandScore:
    """The cow's champion and shadow scores for the bucket containing ``at``.

    ``known_at``: only readings received by then. Raises :class:`NotScorable` when the batch
    run would not score the cow in that bucket (no bolus yet or gone, a sensor without the use
    case's signals).
    """
    uc = models.use_case
    bucket = floor_bucket(utc(at))
    # The cow's own records (her farm's sensors): all the steps below read, herd-wide or not,
    # so they cost the same in a herd of 100 or 100,000 (compute_features restricts to them too).
    records = records.of_animals([animal_id])
    if animal_id not in active_animals(records, bucket, bucket + BUCKET):
        raise NotScorable(f"the cow wore no bolus at {bucket:%Y-%m-%dT%H:%M}Z")
    ids, reason = signal_gate(uc, records.animals)
    if animal_id not in ids:
        raise NotScorable(f"{uc.name} is not scored for this cow: {reason}")
    if isinstance(baselines, BaselineDays):
        baselines = baselines.of(day_start(bucket), animal_id)
    features = bucket_features(store, records, baselines, bucket, [animal_id], known_at=known_at)
    if features.empty:
        raise NotScorable(f"no features for the cow at {bucket:%Y-%m-%dT%H:%M}Z")

    def role(model: LoadedModel) -> RoleScore:
        return RoleScore(float(model.predict_scores(features)[0]), model.name, str(model.version), model.alias,
                         model.fallback)

    shadow = [role(models.challenger)] if models.challenger is not None else []
    n = features["n_readings"].iloc[0] if "n_readings" in features else 0
    return OnDemandScore(uc.name, int(animal_id), bucket, role(models.champion), shadow,
                         int(0 if pd.isna(n) else n))


__all__ = ["BaselineDays", "LiveModels", "NotScorable", "OnDemandScore", "RoleScore", "TimedCache", "score_bucket"]
