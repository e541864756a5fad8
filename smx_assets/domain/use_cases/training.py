"""Training and held-out evaluation of a use case: pure pandas/scikit-learn, no Dagster, no MLflow.

The ``<uc>_model`` / ``<uc>_promotion`` assets and ``bench/evaluate_models.py`` call these same
functions, so the benchmark measures what the platform trains.

* :func:`time_split`: older days train, the newest ``eval_days`` evaluate, and ``gap_days``
  before the evaluation window are dropped: a row's trailing windows reach 26 h back and its
  label looks up to 24 h (calving) or 96 h (fever margins) ahead, so rows next to the split
  would otherwise share information with the evaluation rows.
* :func:`training_rows`: rows with a known label only (NaN = the records cannot tell), all
  positives, negatives down-sampled to a fixed ratio per positive (class imbalance; the fixed
  ratio keeps the score scale, and so the alert threshold, independent of the window's size).
* :func:`evaluate_scores`: the use case's alert policy on held-out scores, then event-level
  metrics against the events the *farm records* imply (:func:`events_from_labels`), never
  against ``gt_events``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.time_grid import utc_values
from smx_assets.domain.use_cases.alerting import apply_alert_policy
from smx_assets.domain.use_cases.base import UseCase
from smx_assets.domain.use_cases.evaluation import (
    EventMetrics,
    cow_days_from_buckets,
    evaluate_alerts,
    events_from_labels,
    row_metrics,
)

DAY = pd.Timedelta(days=1)
NEGATIVES_PER_POSITIVE = 12
# Below these, no model is fitted: the rule baseline stays champion and the training run says
# why (a real herd's first weeks, a collar export whose breeding dates lie before it). The
# training assets take them from their config (defaults: one event to learn from, as fitting
# always required); ``smx train`` asks for 5 to train on and 1 to be judged on.
MIN_TRAIN_LABEL_EVENTS = 1
MIN_EVAL_LABEL_EVENTS = 0


def count_label_events(uc: UseCase, frame: pd.DataFrame, records: FarmRecords) -> int:
    """Label events in ``frame``: runs of consecutive positive buckets per animal."""
    if frame.empty:
        return 0
    y = uc.known_labels(frame, records)
    pos = frame.loc[y.index[y == 1], ["animal_id", "bucket_start"]]
    if pos.empty:
        return 0
    pos = pos.sort_values(["animal_id", "bucket_start"])
    t = pd.to_datetime(pos["bucket_start"], utc=True)
    new = (pos["animal_id"].ne(pos["animal_id"].shift())) | (t.diff() > pd.Timedelta(minutes=10))
    return int(new.sum())


def too_few_labels(uc: UseCase, train: pd.DataFrame, evaluation: pd.DataFrame, records: FarmRecords,
                   min_train: int = MIN_TRAIN_LABEL_EVENTS, min_eval: int = MIN_EVAL_LABEL_EVENTS) -> str | None:
    """Why no model should be trained on this window, or None when the labels suffice."""
    n_train, n_eval = count_label_events(uc, train, records), count_label_events(uc, evaluation, records)
    if n_train >= min_train and n_eval >= min_eval:
        return None
    return (f"too few labels: {n_train} {uc.name} label events in the training days (need "
            f"{min_train}) and {n_eval} in the evaluation days (need {min_eval}); "
            f"the rule baseline {uc.rule_model_name} stays champion")


@dataclass(frozen=True)
class Split:
    """Which days trained and which evaluated (recorded as dataset lineage)."""

    train_days: list[str]
    gap_days: list[str]
    eval_days: list[str]

    def as_params(self) -> dict[str, Any]:
        return {"train_first_day": self.train_days[0] if self.train_days else "",
                "train_last_day": self.train_days[-1] if self.train_days else "",
                "n_train_days": len(self.train_days), "n_gap_days": len(self.gap_days),
                "eval_first_day": self.eval_days[0] if self.eval_days else "",
                "eval_last_day": self.eval_days[-1] if self.eval_days else "",
                "n_eval_days": len(self.eval_days)}


class NotEnoughData(ValueError):
    """The window cannot train this use case (too few days, no positive label).

    Not a failure of the platform: a small or young herd simply keeps its rule baseline, and
    the message says why (it is shown to people as it is).
    """


def time_split(frame: pd.DataFrame, eval_days: int, gap_days: int = 2) -> tuple[pd.DataFrame, pd.DataFrame, Split]:
    """(train rows, evaluation rows, split) by UTC day of ``bucket_start``."""
    day = pd.to_datetime(frame["bucket_start"], utc=True).dt.floor("D")
    days = sorted(day.unique())
    if len(days) < eval_days + gap_days + 1:
        raise NotEnoughData(f"need at least {eval_days + gap_days + 1} days of training_features "
                         f"(eval {eval_days} + gap {gap_days} + 1 to train), got {len(days)}")
    ev = days[len(days) - eval_days:]
    gap = days[len(days) - eval_days - gap_days: len(days) - eval_days]
    tr = days[: len(days) - eval_days - gap_days]
    fmt = lambda ds: [pd.Timestamp(d).strftime("%Y-%m-%d") for d in ds]  # noqa: E731
    return (frame.loc[day.isin(tr)], frame.loc[day.isin(ev)], Split(fmt(tr), fmt(gap), fmt(ev)))


def check_trainable(uc: UseCase, frame: pd.DataFrame, records: FarmRecords) -> None:
    """Raise :class:`NotEnoughData` when ``frame`` holds no positive label of ``uc``.

    Checked before an MLflow run is opened, so a herd without a single calving in the window
    leaves no FAILED run behind, only the stated reason.
    """
    y = uc.known_labels(frame, records)
    if int((y == 1).sum()) == 0:
        raise NotEnoughData(f"use case {uc.name!r}: no positive labels in the training window "
                            f"({len(frame)} rows, {int(len(y))} with a known label)")


def training_rows(uc: UseCase, frame: pd.DataFrame, records: FarmRecords, *,
                  negatives_per_positive: int = NEGATIVES_PER_POSITIVE, seed: int = 0
                  ) -> tuple[pd.DataFrame, np.ndarray, dict[str, int]]:
    """(X, y, counts): known-label rows, all positives, a seeded sample of negatives."""
    y = uc.known_labels(frame, records)
    pos = y.index[y == 1]
    neg = y.index[y == 0]
    rng = np.random.default_rng(seed)
    n_neg = min(len(neg), max(negatives_per_positive * len(pos), 1000))
    neg_kept = neg[np.sort(rng.choice(len(neg), size=n_neg, replace=False))] if n_neg < len(neg) else neg
    idx = pos.append(neg_kept).sort_values()
    counts = {"rows": int(len(frame)), "rows_label_unknown": int(len(frame) - len(y)),
              "rows_positive": int(len(pos)), "rows_negative": int(len(neg)),
              "rows_negative_used": int(len(neg_kept)), "rows_trained": int(len(idx))}
    return frame.loc[idx, list(uc.feature_columns)].astype("float64"), y.loc[idx].to_numpy(), counts


@dataclass
class FitResult:
    model: Any
    counts: dict[str, int]
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)


def fit_model(uc: UseCase, frame: pd.DataFrame, records: FarmRecords, *,
              negatives_per_positive: int = NEGATIVES_PER_POSITIVE, seed: int = 0) -> FitResult:
    """Fit the use case's model factory on ``frame``'s known-label rows."""
    X, y, counts = training_rows(uc, frame, records, negatives_per_positive=negatives_per_positive, seed=seed)
    if counts["rows_positive"] == 0:
        raise NotEnoughData(f"use case {uc.name!r}: no positive labels in the training window "
                         f"({counts['rows']} rows): widen train_days or check the farm records")
    model = uc.new_model()
    t0 = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - t0
    params = {f"model.{k}": v for k, v in model.get_params().items()
              if isinstance(v, (int, float, str, bool)) or v is None}
    params.update({"model.class": type(model).__name__, "negatives_per_positive": negatives_per_positive,
                   "sample_seed": seed})
    return FitResult(model=model, counts=counts, seconds=seconds, params=params)


def sklearn_scorer(model: Any, columns: tuple[str, ...] | list[str]) -> Callable[[pd.DataFrame], np.ndarray]:
    """P(positive) of a fitted classifier on a feature frame."""
    cols = list(columns)

    def score(frame: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(frame[cols].astype("float64"))[:, 1]

    return score


def score_frame(scorer: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame) -> pd.DataFrame:
    """``animal_id``, ``bucket_start``, ``score`` for every row of ``frame``."""
    s = np.clip(np.nan_to_num(np.asarray(scorer(frame), dtype="float64"), nan=0.0), 0.0, 1.0)
    return pd.DataFrame({"animal_id": frame["animal_id"].to_numpy(dtype="int64"),
                         "bucket_start": utc_values(frame["bucket_start"]), "score": s})


def evaluate_scores(uc: UseCase, frame: pd.DataFrame, scores: pd.DataFrame, records: FarmRecords
                    ) -> dict[str, float]:
    """Alert policy on ``scores``, event-level metrics against the label events, plus row AUC/AP.

    Returns flat numbers (``sensitivity``, ``precision``, ``f1``, ``lead_time_median_h``,
    ``false_alerts_per_100_cow_days``, counts, ``row_auc``, ``row_ap``) for MLflow and metadata.
    """
    labels = uc.labels(frame, records)
    events = events_from_labels(frame, labels)
    alerts = apply_alert_policy(scores, uc.alert_policy)
    metrics = evaluate_alerts(alerts, events, uc.label_matching, cow_days_from_buckets(scores))
    known = labels.notna().to_numpy()
    out = metrics.as_dict()
    out.update(row_metrics(labels.to_numpy()[known], scores["score"].to_numpy()[known]))
    return out


def event_metrics_against(uc: UseCase, scores: pd.DataFrame, events: pd.DataFrame) -> EventMetrics:
    """Alert policy on ``scores``, metrics against given events with the use case's true-event
    matching (the simulated-herd report: ``events_from_gt``)."""
    alerts = apply_alert_policy(scores, uc.alert_policy)
    return evaluate_alerts(alerts, events, uc.event_matching, cow_days_from_buckets(scores))


def feature_list_hash(columns: tuple[str, ...] | list[str]) -> str:
    """Short, order-sensitive hash of the feature list (dataset lineage)."""
    return hashlib.sha256("\n".join(columns).encode()).hexdigest()[:12]
