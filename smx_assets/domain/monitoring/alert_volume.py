"""Alerts per use case per day against the expected rate: a jump or a collapse is news.

A farmer notices alarm floods (a firmware offset turns every cow "feverish") and silence (a
model that stopped alerting) long before labels arrive, so volume is the fastest health signal.

The expected rate is alerts per animal-day, so herd growth does not look like a jump:

* the trailing mean over the previous ``trailing_days`` scored days (at least
  ``min_history_days`` of them), or else
* the champion's training run (``n_alerts / cow_days`` as logged by event-level evaluation).

A day is flagged only when the count is both far from expectation by ratio *and* improbable
under a Poisson model of the expected count: small herds see 0 or 2 heat alerts on ordinary
days, and a ratio alone would flap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class VolumePolicy:
    jump_ratio: float = 3.0  # observed above expected x this ...
    collapse_ratio: float = 3.0  # ... or below expected / this
    alpha: float = 0.01  # ... and that improbable under Poisson(expected)
    trailing_days: int = 14
    min_history_days: int = 3


@dataclass
class VolumeVerdict:
    use_case: str
    observed: int
    animals: int
    expected: float | None  # expected count that day
    expected_source: str
    status: str  # ok | jump | collapse | no_baseline
    p_value: float | None = None

    def as_metadata(self) -> dict[str, Any]:
        return {"observed": self.observed, "animals": self.animals,
                "expected": None if self.expected is None else round(self.expected, 3),
                "expected_source": self.expected_source, "status": self.status,
                "p_value": None if self.p_value is None else float(f"{self.p_value:.3g}")}


def expected_rate(history: pd.DataFrame, use_case: str, day: pd.Timestamp, policy: VolumePolicy,
                  training_metrics: dict[str, float] | None = None) -> tuple[float | None, str]:
    """Expected alerts per animal-day for ``use_case`` on ``day``, and where it came from.

    ``history``: one row per (day, use_case) with ``alerts`` and ``animals`` (animals scored).
    Only days strictly before ``day`` and within the trailing window count.
    """
    day = pd.Timestamp(day).normalize()
    lo = day - pd.Timedelta(days=policy.trailing_days)
    h = history[(history["use_case"] == use_case) & (history["day"] < day) & (history["day"] >= lo)
                & (history["animals"] > 0)]
    if len(h) >= policy.min_history_days:
        return float(h["alerts"].sum() / h["animals"].sum()), f"trailing mean of {len(h)} days"
    m = training_metrics or {}
    n_alerts, cow_days = m.get("n_alerts", math.nan), m.get("cow_days", math.nan)
    if cow_days and not math.isnan(cow_days) and not math.isnan(n_alerts) and cow_days > 0:
        return float(n_alerts / cow_days), "training run (n_alerts / cow_days)"
    return None, "no baseline yet"


def judge(use_case: str, observed: int, animals: int, rate: float | None, source: str,
          policy: VolumePolicy) -> VolumeVerdict:
    """Compare one day's count with the expected rate (see the module doc for the rule)."""
    if rate is None or animals <= 0:
        return VolumeVerdict(use_case, observed, animals, None, source, "no_baseline")
    expected = rate * animals
    status, p = "ok", None
    if expected <= 0:
        # Nothing expected: any alert is a jump only once it is clearly more than noise.
        if observed >= max(3, policy.jump_ratio):
            status, p = "jump", 0.0
        return VolumeVerdict(use_case, observed, animals, expected, source, status, p)
    from scipy import stats  # lazily: scipy.stats costs ~1 s of every code-location (run worker) start

    p_hi = float(stats.poisson.sf(observed - 1, expected))  # P(X >= observed)
    p_lo = float(stats.poisson.cdf(observed, expected))  # P(X <= observed)
    if observed > expected * policy.jump_ratio and p_hi < policy.alpha:
        status, p = "jump", p_hi
    elif observed < expected / policy.collapse_ratio and p_lo < policy.alpha:
        status, p = "collapse", p_lo
    else:
        p = min(p_hi, p_lo)
    return VolumeVerdict(use_case, observed, animals, expected, source, status, p)
