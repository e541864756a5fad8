"""Enough evidence before a promotion: cross-validation by animal, and a minimum event count.

Why not a held-out week: a 200-cow herd has about 9 calvings and 11 fever episodes in 50 days,
so the newest 7 days hold 0-2 of each and an F1 from them is noise (or NaN when there are none).
Every event of the window counts instead:

* the window's animals are split into ``k`` folds (seeded, by animal, never by row: a cow's
  buckets are strongly correlated, so rows of one cow on both sides would flatter the model);
* for each fold, the use case's model is fitted on the other folds' animals and scores this
  fold's animals over the whole window; the pooled *out-of-fold* scores are the challenger's
  evidence, evaluated event-level with the use case's alert policy, exactly like a held-out set;
* the rule baseline scores the same rows, so both face the same events.

What this estimates: how the training recipe does on cows it has not seen, over the same
weeks. Herd-wide effects of those weeks (weather) are shared by train and test folds; that is
the price of using every event, and the champion comparison below does not pay it.

A decision needs at least ``uc.min_evaluation_events`` events; with fewer the outcome is
:class:`Evidence` ``enough=False`` and a sentence such as "2 calving events in the evaluation
window; at least 8 needed", never a NaN F1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smx_assets.domain import progress
from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.use_cases.base import UseCase
from smx_assets.domain.use_cases.training import (
    NEGATIVES_PER_POSITIVE,
    evaluate_scores,
    fit_model,
    score_frame,
    sklearn_scorer,
)

DEFAULT_FOLDS = 3


@dataclass(frozen=True)
class Evidence:
    """How many events an evaluation rests on, and whether that is enough to decide."""

    use_case: str
    n_events: int
    min_events: int
    where: str = "the evaluation window"

    @property
    def enough(self) -> bool:
        return self.n_events >= self.min_events

    @property
    def message(self) -> str:
        noun = f"{self.use_case} event" + ("" if self.n_events == 1 else "s")
        return f"{self.n_events} {noun} in {self.where}; at least {self.min_events} needed"


def evidence(uc: UseCase, metrics: dict[str, float], where: str = "the evaluation window") -> Evidence:
    """The evidence behind ``metrics`` (from :func:`evaluate_scores`)."""
    return Evidence(uc.name, int(metrics.get("n_events", 0) or 0), uc.min_evaluation_events, where)


def animal_folds(animal_ids: pd.Series | np.ndarray, k: int = DEFAULT_FOLDS, seed: int = 0) -> dict[int, int]:
    """animal id -> fold (0..k-1), a seeded shuffle of the sorted ids dealt round-robin."""
    ids = np.sort(pd.unique(np.asarray(animal_ids, dtype="int64")))
    if len(ids) < k:
        raise ValueError(f"cross-validation by animal needs at least {k} animals, got {len(ids)}")
    rng = np.random.default_rng(seed)
    shuffled = ids[rng.permutation(len(ids))]
    return {int(a): i % k for i, a in enumerate(shuffled)}


@dataclass
class CrossValidation:
    """Out-of-fold evidence for a use case's recipe on one window."""

    scores: pd.DataFrame  # animal_id, bucket_start, score, fold: out-of-fold challenger scores
    rule_scores: pd.DataFrame  # the same rows scored by the rule baseline
    challenger: dict[str, float]  # event-level metrics of the pooled out-of-fold scores
    baseline: dict[str, float]
    folds: int
    fit_seconds: float

    @property
    def n_events(self) -> int:
        return int(self.challenger.get("n_events", 0) or 0)


def cross_validate(uc: UseCase, frame: pd.DataFrame, records: FarmRecords, *, k: int = DEFAULT_FOLDS,
                   negatives_per_positive: int = NEGATIVES_PER_POSITIVE, seed: int = 0) -> CrossValidation:
    """Fit on k-1 folds of animals, score the k-th, for every fold; evaluate the pooled scores.

    A fold whose training animals hold no positive label (a tiny herd) scores 0 everywhere:
    the recipe could not learn anything there, which is what the evidence should show.
    """
    folds = animal_folds(frame["animal_id"], k, seed)
    fold_of_row = frame["animal_id"].map(folds).to_numpy()
    parts, seconds = [], 0.0
    for f in range(k):
        train, test = frame.loc[fold_of_row != f], frame.loc[fold_of_row == f]
        if test.empty:
            continue
        try:
            fit = fit_model(uc, train, records, negatives_per_positive=negatives_per_positive, seed=seed)
        except ValueError:  # no positive labels among the training animals
            part = score_frame(lambda x: np.zeros(len(x)), test)
        else:
            seconds += fit.seconds
            part = score_frame(sklearn_scorer(fit.model, uc.feature_columns), test)
        parts.append(part.assign(fold=f))
        progress.advance(f"{uc.name} cross-validation", f + 1, k, f"fold {f + 1}/{k}")
    scores = pd.concat(parts, ignore_index=True)
    # Rows back in the frame's order, so labels and scores line up in evaluate_scores.
    keyed = frame[["animal_id", "bucket_start"]].assign(
        bucket_start=lambda d: pd.to_datetime(d["bucket_start"], utc=True))
    scores = keyed.merge(scores, on=["animal_id", "bucket_start"], how="left", validate="one_to_one")
    scores["score"] = scores["score"].fillna(0.0)
    rule = score_frame(uc.rule_baseline.score, frame)
    return CrossValidation(
        scores=scores, rule_scores=rule,
        challenger=evaluate_scores(uc, frame, scores[["animal_id", "bucket_start", "score"]], records),
        baseline=evaluate_scores(uc, frame, rule, records),
        folds=k, fit_seconds=seconds,
    )


def rows_after(frame: pd.DataFrame, last_day: str | pd.Timestamp | None) -> np.ndarray:
    """Mask of rows after ``last_day`` (a champion's last training day): the rows it never saw."""
    if not last_day:
        return np.ones(len(frame), dtype=bool)
    cut = pd.Timestamp(last_day)
    cut = (cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")) + pd.Timedelta(days=1)
    return (pd.to_datetime(frame["bucket_start"], utc=True) >= cut).to_numpy()
