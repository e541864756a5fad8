"""Data and prediction drift between a model's training reference and one day of scoring.

Pure pandas + Evidently (no Dagster). The ``drift_report`` asset calls :func:`drift_report`.

Why these choices:

* **KS p-values for every monitored column.** Evidently infers binary indicator columns as
  categorical and would switch them to chi-square/Z tests; we declare every column numerical so
  each column gets the same test (``DataDriftPreset(num_method="ks")``) and a p-value a person
  can compare across columns and days.
* **Samples, not whole days.** A KS test on 144 buckets x 1,000 animals flags differences far
  too small to matter; both sides are sampled to ``sample_rows`` (seeded by the day, so a rerun
  gives the same report) which keeps the test's resolution at a few percent of the CDF and the
  report time bounded.
* **Monitored columns exclude the slowly moving profile** (age, days in milk, days since
  insemination, ...): they drift by construction as time passes, which says nothing about
  sensors or models. Sensor, window, baseline and climate features are monitored.
* **Prediction drift** compares each champion's scores that day with the same champion's scores
  on the reference sample; the score columns are in the same Evidently report (so the HTML
  shows them) as ``ValueDrift`` metrics of their own, outside the feature columns' drift count.
* **One set of figures.** The report's "drifted columns" count and share are computed by
  Evidently over exactly the monitored feature columns, with the KS p-value threshold and both
  share thresholds of the Dagster check (``SMX_DRIFT_*``) as its tests ("Share of Drifted
  Columns: Less 0.200 / 0.350"); the check reads its numbers from that same snapshot, so the
  HTML and the UI cannot disagree (they once said 7 of 60 at 0.5 vs 6 of 57 at 0.2/0.35).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.features.pipeline import FEATURE_COLUMNS
from smx_assets.domain.features.profile import PROFILE_COLUMNS
from smx_assets.domain.time_grid import utc

# Columns that change by construction as the calendar moves on, or are identifiers.
NOT_MONITORED = set(PROFILE_COLUMNS) | {"hour_of_day", "farm_id"}
MONITORED_COLUMNS: list[str] = [c for c in FEATURE_COLUMNS if c not in NOT_MONITORED]
SCORE_PREFIX = "score_"

Scorer = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class DriftThresholds:
    """When the drift check warns and when it fails (shares of monitored columns drifted)."""

    # Calibrated on simulated herds (30 cows, 1,000-row samples): days without drift give
    # shares of about 0.1-0.15 (weather moves THI and temperature windows), a 0.6 °C firmware
    # offset gives about 0.37-0.40.
    warn_share: float = 0.2
    fail_share: float = 0.35
    p_value: float = 0.01  # a column drifts when its KS p-value is below this

    def __post_init__(self) -> None:
        if not 0.0 <= self.warn_share <= self.fail_share <= 1.0:
            raise ValueError(f"need 0 <= warn_share <= fail_share <= 1, got {self.warn_share}, {self.fail_share}")

    def level(self, share: float) -> str:
        """``ok`` | ``warn`` | ``fail`` for a drift share: at or above a threshold, as Evidently's
        "Share of Drifted Columns: Less X" test fails at ``share >= X``."""
        if share >= self.fail_share:
            return "fail"
        if share >= self.warn_share:
            return "warn"
        return "ok"


@dataclass
class DriftResult:
    """What the report found, flat enough to become asset metadata."""

    n_reference: int
    n_current: int
    columns: list[str]
    drifted_columns: list[str]
    p_values: dict[str, float]
    share: float
    prediction: dict[str, dict[str, float | bool]] = field(default_factory=dict)
    skipped_columns: list[str] = field(default_factory=list)
    report_seconds: float = 0.0
    html_path: str | None = None
    html_bytes: int = 0
    # Evidently's own DriftedColumnsCount over the feature columns (what the HTML shows)
    evidently_count: int = 0
    evidently_share: float = 0.0
    evidently_share_tests: dict[str, str] = field(default_factory=dict)  # test name -> SUCCESS | FAIL

    @property
    def n_drifted(self) -> int:
        return len(self.drifted_columns)

    @property
    def drifted_predictions(self) -> list[str]:
        return sorted(k for k, v in self.prediction.items() if v.get("drifted"))

    def verdict(self, thresholds: DriftThresholds) -> tuple[str, str]:
        """(level, reason) for the check: the feature share's level, raised to at least ``warn``
        when a champion's scores drifted (a model's output moving is worth a look even when few
        inputs moved); the reason names the figures a person compares with the HTML report."""
        level = thresholds.level(self.share)
        reason = (f"{self.n_drifted} of {len(self.columns)} monitored columns drifted (share {self.share:.3f}; "
                  f"KS p < {thresholds.p_value:g}; warn at {thresholds.warn_share:g}, fail at {thresholds.fail_share:g})")
        drifted = self.drifted_predictions
        if drifted:
            parts = [f"{uc} (KS p={self.prediction[uc]['p_value']:.2g}, mean {self.prediction[uc]['reference_mean']:.3f}"
                     f" -> {self.prediction[uc]['current_mean']:.3f})" for uc in drifted]
            reason += "; prediction drift: " + ", ".join(parts)
            if level == "ok":
                level = "warn"
        return level, reason


def _utc_day(value: object) -> pd.Timestamp:
    """Midnight UTC of a day given aware or naive (lineage tags are naive, partitions aware)."""
    return utc(value).normalize()


def reference_days(day: pd.Timestamp, training_days: Sequence[pd.Timestamp] | None, fallback_days: int = 7
                   ) -> tuple[list[pd.Timestamp], str]:
    """The days the reference sample is drawn from, and where that choice came from.

    The champion's training days are the honest reference (the model learned that
    distribution); days on or after ``day`` are dropped so a report never compares a day with
    itself. Without lineage the ``fallback_days`` days before ``day`` stand in.
    """
    day = _utc_day(day)
    if training_days:
        days = sorted({_utc_day(d) for d in training_days if _utc_day(d) < day})
        if days:
            return days, "champion training days"
    return [day - pd.Timedelta(days=k) for k in range(fallback_days, 0, -1)], f"{fallback_days} days before"


def sample_rows(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows, seeded (reruns give the same report), original order kept."""
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    idx = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
    return frame.iloc[idx].reset_index(drop=True)


def attach_scores(features: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Add ``score_<use case>`` columns (champion scores) to scored feature vectors.

    ``predictions`` has ``use_case``, ``animal_id``, ``bucket_start``, ``score`` (non-shadow rows).
    """
    out = features.copy()
    if predictions.empty:
        return out
    wide = predictions.pivot_table(index=["animal_id", "bucket_start"], columns="use_case", values="score",
                                   aggfunc="last")
    wide.columns = [f"{SCORE_PREFIX}{c}" for c in wide.columns]
    wide = wide.reset_index()
    wide["bucket_start"] = pd.to_datetime(wide["bucket_start"], utc=True)
    out["bucket_start"] = pd.to_datetime(out["bucket_start"], utc=True)
    return out.merge(wide, on=["animal_id", "bucket_start"], how="left")


def _usable(ref: pd.Series, cur: pd.Series) -> bool:
    """KS needs values on both sides; a column constant and equal on both sides cannot drift."""
    r, c = ref.dropna(), cur.dropna()
    if len(r) < 2 or len(c) < 2:
        return False
    return not (r.nunique() == 1 and c.nunique() == 1 and r.iloc[0] == c.iloc[0])


@dataclass
class _Snapshot:
    p_values: dict[str, float]
    flags: dict[str, bool]
    count: int
    share: float
    share_tests: dict[str, str]


def _read_snapshot(snapshot: Any) -> _Snapshot:
    """Per-column KS p-values (ValueDrift values), drift flags (their tests), and the feature
    columns' DriftedColumnsCount with its share tests, as Evidently computed them."""
    data = snapshot.dict()
    p_values: dict[str, float] = {}
    count, share = 0, 0.0
    for m in data["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            p_values[cfg["column"]] = float(m["value"])
        elif cfg.get("type", "").endswith("DriftedColumnsCount"):
            count, share = int(m["value"]["count"]), float(m["value"]["share"])
    flags: dict[str, bool] = {}
    share_tests: dict[str, str] = {}
    for t in data.get("tests", []):
        params = (t.get("metric_config") or {}).get("params") or {}
        if params.get("type", "").endswith("ValueDrift"):
            flags[params["column"]] = t.get("status") == "FAIL"
        elif params.get("type", "").endswith("DriftedColumnsCount"):
            status = t.get("status")
            share_tests[t.get("name", "share")] = str(getattr(status, "value", status))
    return _Snapshot(p_values, flags, count, share, share_tests)


def _run_report(features: list[str], scores: list[str], ref: pd.DataFrame, cur: pd.DataFrame,
                thresholds: DriftThresholds) -> Any:
    """Feature drift (count, share and both share thresholds as tests) and score drift, one report."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift
    from evidently.tests import lt

    p = thresholds.p_value
    metrics: list[Any] = []
    if features:
        metrics.append(DriftedColumnsCount(columns=features, num_method="ks", num_threshold=p,
                                           drift_share=thresholds.fail_share,
                                           share_tests=[lt(thresholds.warn_share), lt(thresholds.fail_share)]))
    metrics += [ValueDrift(column=c, method="ks", threshold=p) for c in features + scores]
    columns = features + scores
    definition = DataDefinition(numerical_columns=columns)
    return Report(metrics, include_tests=True).run(
        current_data=Dataset.from_pandas(cur[columns].astype("float64"), data_definition=definition),
        reference_data=Dataset.from_pandas(ref[columns].astype("float64"), data_definition=definition))


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    scorers: Mapping[str, Scorer] | None = None,
    thresholds: DriftThresholds = DriftThresholds(),
    sample: int = 1_000,
    seed: int = 0,
    html_path: str | Path | None = None,
) -> DriftResult:
    """Evidently data drift (KS) on the monitored columns plus champion score drift.

    Args:
        reference: training feature rows (any number; sampled here).
        current: the day's scored feature vectors, with ``score_<uc>`` columns when scored
            (see :func:`attach_scores`).
        scorers: use case -> function giving the champion's scores for feature rows; applied to
            the reference sample to get reference scores.
        html_path: where to save the self-contained HTML report (None: not saved).
    """
    import warnings

    wanted = list(columns) if columns is not None else MONITORED_COLUMNS
    ref = sample_rows(reference, sample, seed)
    cur = sample_rows(current, sample, seed + 1)
    score_cols: list[str] = []
    for uc, scorer in (scorers or {}).items():
        col = f"{SCORE_PREFIX}{uc}"
        if col in cur.columns and len(ref):
            ref[col] = np.asarray(scorer(ref), dtype="float64")
            score_cols.append(col)
    candidates = [c for c in wanted if c in ref.columns and c in cur.columns] + score_cols
    usable = [c for c in candidates if _usable(ref[c], cur[c])]
    skipped = [c for c in wanted if c not in usable]
    result = DriftResult(n_reference=len(ref), n_current=len(cur), columns=[c for c in usable if c not in score_cols],
                         drifted_columns=[], p_values={}, share=0.0, skipped_columns=skipped)
    if not usable:
        return result
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # scipy's "exact KS failed, using asymptotic" on every column
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = _run_report(result.columns, [c for c in score_cols if c in usable], ref, cur, thresholds)
    read = _read_snapshot(snapshot)
    p_values, flags = read.p_values, read.flags
    result.evidently_count, result.evidently_share, result.evidently_share_tests = read.count, read.share, read.share_tests
    if html_path is not None:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
        result.html_path = str(html_path)
        result.html_bytes = Path(html_path).stat().st_size
    result.report_seconds = time.perf_counter() - t0
    features = result.columns
    result.p_values = {c: float(p_values.get(c, math.nan)) for c in features}
    result.drifted_columns = [c for c in features if flags.get(c, p_values.get(c, 1.0) < thresholds.p_value)]
    result.share = len(result.drifted_columns) / len(features) if features else 0.0
    for col in score_cols:
        if col not in usable:
            continue
        p = float(p_values.get(col, math.nan))
        result.prediction[col[len(SCORE_PREFIX):]] = {
            "p_value": p,
            "drifted": bool(flags.get(col, p < thresholds.p_value)),
            "reference_mean": float(ref[col].mean()),
            "current_mean": float(cur[col].mean()),
        }
    return result
