"""A use case (heat, calving, fever) as one declaration.

Everything the platform does with a model — labelling training rows, fitting, raising alerts,
comparing with a rule baseline, matching alerts to events — is driven by a :class:`UseCase`.
Adding a model therefore means adding one declaration to ``catalog.CATALOG``, never editing the
training, scoring or monitoring code. The module is pure Python/pandas (no Dagster, no MLflow)
so the same declaration serves training, the 10-minute scoring path and tests.

Feature column names are owned by the feature module; this file only fixes the *shape* of a use
case, so it does not depend on them. The registry is filled by the use-case modules
(``smx_assets.domain.use_cases.catalog.all_use_cases``).

Label rules read the farm's records through the feature layer's one records type,
:class:`~smx_assets.domain.features.profile.FarmRecords` (never ``gt_events``): a model trained
on farm records faces the same label noise and delay as in production, and ``FarmRecords.known_by``
replays what had been entered by a given time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.time_grid import BUCKET

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


def _td(value: Any, what: str) -> pd.Timedelta:
    """Accept ``"12h"``, ``datetime.timedelta`` or ``pd.Timedelta``; reject NaT and garbage early."""
    td = pd.Timedelta(value)
    if pd.isna(td):
        raise ValueError(f"{what} must be a duration, got {value!r}")
    return td


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class AlertPolicy:
    """How scores become alerts: one alert per episode, not one per bucket.

    * ``threshold``: a bucket is *above* when ``score >= threshold``.
    * ``min_consecutive``: an episode is confirmed on its k-th consecutive above bucket (debounces
      single noisy buckets); the alert is raised at that bucket.
    * ``refractory``: after an alert, the same animal raises no new alert for this long, so a
      flickering score around the threshold (e.g. a 12 h heat) still gives one alert.
    * ``bucket``: the scoring cadence; buckets further apart than this break an episode.
    """

    threshold: float
    refractory: pd.Timedelta = pd.Timedelta(hours=12)
    min_consecutive: int = 1
    bucket: pd.Timedelta = BUCKET

    def __post_init__(self) -> None:
        object.__setattr__(self, "refractory", _td(self.refractory, "refractory"))
        object.__setattr__(self, "bucket", _td(self.bucket, "bucket"))
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if int(self.min_consecutive) < 1:
            raise ValueError("min_consecutive must be >= 1")
        if self.refractory < pd.Timedelta(0) or self.bucket <= pd.Timedelta(0):
            raise ValueError("refractory must be >= 0 and bucket > 0")

    @property
    def lookback(self) -> pd.Timedelta:
        """Score history an incremental call needs before its first new bucket.

        With ``min_consecutive`` buckets of context the alerting code can tell an episode that
        starts now from one already under way, so incremental and batch runs agree.
        """
        return self.bucket * self.min_consecutive

    def as_params(self) -> dict[str, Any]:
        return {"threshold": float(self.threshold), "refractory_h": self.refractory / pd.Timedelta(hours=1),
                "min_consecutive": int(self.min_consecutive),
                "bucket_min": self.bucket / pd.Timedelta(minutes=1)}


@dataclass(frozen=True)
class EventMatching:
    """When an alert counts as detecting an event (ground truth or label event).

    The window is ``[start + window_start, anchor + window_end]`` where ``anchor`` is the event
    start, or its end when ``end_anchor="end"`` (and the event has one). Offsets are signed:

    * calving, "alert 6–36 h before": ``window_start=-36h, window_end=-6h``;
    * fever, "within 24 h of onset": ``window_start=-12h, window_end=+24h``;
    * heat, "during the episode, a little early is fine": ``window_start=-6h, window_end=0h,
      end_anchor="end"``.

    Lead time is ``event start - alert time`` (positive = before the event).
    """

    window_start: pd.Timedelta
    window_end: pd.Timedelta
    end_anchor: Literal["start", "end"] = "start"

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_start", _td(self.window_start, "window_start"))
        object.__setattr__(self, "window_end", _td(self.window_end, "window_end"))
        if self.end_anchor not in ("start", "end"):
            raise ValueError("end_anchor must be 'start' or 'end'")
        if self.end_anchor == "start" and self.window_end < self.window_start:
            raise ValueError("window_end must not precede window_start")

    def as_params(self) -> dict[str, Any]:
        return {"window_start_h": self.window_start / pd.Timedelta(hours=1),
                "window_end_h": self.window_end / pd.Timedelta(hours=1), "end_anchor": self.end_anchor}


# ------------------------------------------------------------------------- rule models

RuleFn = Callable[..., "pd.Series | np.ndarray"]


@dataclass(frozen=True)
class RuleModel:
    """A non-ML baseline: a pure function of the feature frame plus its parameters.

    ``fn(frame, **params)`` returns one score per row; :meth:`score` clips to [0, 1] and maps
    missing values to 0 so a rule behaves like a classifier's probability everywhere (alert
    policy, evaluation, MLflow pyfunc). ``fn`` must be a module-level function: the MLflow pyfunc
    wrapper pickles it by reference, so the registered rule runs the code version recorded on
    its run.
    """

    name: str
    fn: RuleFn
    params: Mapping[str, Any] = field(default_factory=dict)
    feature_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "feature_columns", tuple(self.feature_columns))
        if not self.feature_columns:
            raise ValueError(f"rule {self.name!r} must declare the feature columns it reads")

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            raise KeyError(f"rule {self.name!r} needs columns {missing}")
        raw = np.asarray(self.fn(frame[list(self.feature_columns)], **self.params), dtype="float64")
        if raw.shape != (len(frame),):
            raise ValueError(f"rule {self.name!r} returned shape {raw.shape}, expected ({len(frame)},)")
        return np.clip(np.nan_to_num(raw, nan=0.0), 0.0, 1.0)


# ---------------------------------------------------------------------------- use case

LabelRule = Callable[[pd.DataFrame, FarmRecords], pd.Series]
ModelFactory = Callable[[], Any]

SIGNALS = ("activity", "temperature", "ph")
# What each kind of sensor measures (``animals.bolus_type``); an unknown type is taken to be a
# temperature-and-activity bolus, the platform's original sensor.
SENSOR_SIGNALS: dict[str, frozenset[str]] = {
    "temp_activity": frozenset({"temperature", "activity"}),
    "temp_activity_ph": frozenset({"temperature", "activity", "ph"}),
    "collar_activity": frozenset({"activity"}),  # a neck collar (SCR Heatime): activity only
}


def animal_signals(bolus_type: object) -> frozenset[str]:
    """The signals an animal's sensor delivers, from its ``bolus_type``."""
    return SENSOR_SIGNALS.get(str(bolus_type), SENSOR_SIGNALS["temp_activity"])


def signal_gate(use_case: UseCase, animals: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """(animal ids the use case can run on, reason for the others or None).

    ``animals`` has ``animal_id`` and ``bolus_type``. A use case whose signals an animal's
    sensor lacks is skipped for it (calving and fever need temperature; a collar herd has
    none), and the reason is reported instead of scoring NaN features as if they were data.
    """
    if len(animals) == 0:
        return np.empty(0, dtype="int64"), None
    has = animals["bolus_type"].map(animal_signals)
    ok = has.map(lambda s: set(use_case.required_signals) <= s).to_numpy(dtype=bool)
    ids = animals["animal_id"].to_numpy(dtype="int64")
    if ok.all():
        return ids, None
    missing = sorted(set().union(*(set(use_case.required_signals) - s for s in has[~ok])))
    kinds = ", ".join(sorted(set(animals.loc[~ok, "bolus_type"].astype(str))))
    reason = (f"skipped for {int((~ok).sum())} of {len(ok)} animals: their sensors ({kinds}) have no "
              f"{' or '.join(missing)}, which {use_case.name} needs")
    return ids[ok], reason


@dataclass(frozen=True)
class UseCase:
    """One model's complete declaration.

    ``event_kind`` names the ``gt_events.kind`` the use case detects; only simulated-herd
    evaluation reads it. ``event_matching`` says when an alert detects a (true) event;
    ``label_matching`` the same for the events recovered from farm-record labels (label spans,
    see ``evaluation.events_from_labels``), which training and promotion use because they
    never read ``gt_events``. By default an alert must fall inside the label span or up to 6 h
    before it. Registered model names derive from ``name`` so every component agrees
    on them without configuration: ``smx-<name>`` (ML, with aliases ``champion``/``challenger``)
    and ``smx-<name>-rule`` (the baseline).
    """

    name: str
    feature_columns: tuple[str, ...]
    label_rule: LabelRule
    model_factory: ModelFactory
    alert_policy: AlertPolicy
    rule_baseline: RuleModel
    event_matching: EventMatching
    event_kind: str = ""
    description: str = ""
    label_matching: EventMatching | None = None
    # the sensor signals the use case cannot run without (see SIGNALS, signal_gate)
    required_signals: tuple[str, ...] = ("activity",)
    # Promotion decides only on at least this many (label) events: an F1 from fewer is noise
    # (see use_cases.cross_validation).
    min_evaluation_events: int = 8

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"use case name {self.name!r} must match {_NAME_RE.pattern}")
        object.__setattr__(self, "feature_columns", tuple(self.feature_columns))
        if not self.feature_columns or len(set(self.feature_columns)) != len(self.feature_columns):
            raise ValueError(f"use case {self.name!r}: feature_columns must be non-empty and unique")
        if int(self.min_evaluation_events) < 1:
            raise ValueError(f"use case {self.name!r}: min_evaluation_events must be >= 1")
        if not self.event_kind:
            object.__setattr__(self, "event_kind", self.name)
        object.__setattr__(self, "required_signals", tuple(self.required_signals))
        if not set(self.required_signals) <= set(SIGNALS):
            raise ValueError(f"use case {self.name!r}: required_signals must be among {SIGNALS}")
        if self.label_matching is None:
            object.__setattr__(self, "label_matching",
                               EventMatching(window_start="-6h", window_end="0h", end_anchor="end"))

    @property
    def model_name(self) -> str:
        return model_name_for(self.name)

    @property
    def rule_model_name(self) -> str:
        return rule_model_name_for(self.name)

    @property
    def experiment_name(self) -> str:
        return f"smx-{self.name}"

    def labels(self, features: pd.DataFrame, records: FarmRecords) -> pd.Series:
        """Run the label rule and check its contract (aligned index, only 0/1/NaN).

        NaN means "the records cannot tell" (the feature layer's convention): such rows are left
        out of training and of label-based evaluation, never guessed as 0. A rule that silently
        returned other values or a shuffled index would train a model on the wrong rows;
        failing here is cheaper than a bad champion.
        """
        y = self.label_rule(features, records)
        if not isinstance(y, pd.Series) or not y.index.equals(features.index):
            raise ValueError(f"use case {self.name!r}: label rule must return a Series on the frame's index")
        values = pd.to_numeric(y, errors="coerce")
        if (values.isna() & y.notna()).any() or not set(pd.unique(values.dropna())).issubset({0, 1}):
            raise ValueError(f"use case {self.name!r}: labels must be 0/1 (NaN = unknown)")
        return values.astype("float64").rename("label")

    def known_labels(self, features: pd.DataFrame, records: FarmRecords) -> pd.Series:
        """The 0/1 labels of the rows whose label is known (int8, index = those rows)."""
        y = self.labels(features, records)
        return y.dropna().astype("int8")

    def new_model(self) -> Any:
        return self.model_factory()


def model_name_for(use_case: str) -> str:
    return f"smx-{use_case}"


def rule_model_name_for(use_case: str) -> str:
    return f"smx-{use_case}-rule"
