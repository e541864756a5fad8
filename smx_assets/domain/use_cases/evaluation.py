"""Event-level detection metrics: what a farmer experiences, not row-level AUC.

A farmer cares whether each heat/calving/fever got an alert in time and how many alerts were
false, so the primary metrics count *events* and *alerts*:

* sensitivity = events with at least one matching alert / events;
* precision = alerts that match an event / alerts;
* F1 of the two (the promotion criterion);
* lead time = event start - first matching alert, in hours (positive = before the event);
* false alerts per 100 cow-days (alarm fatigue), which needs the cow-days observed.

An alert matches an event of the same animal when its time lies in the use case's
:class:`~smx_assets.domain.use_cases.base.EventMatching` window. Events that cannot be detected
(a silent heat: ``attrs["silent"]``, or ``detectable=False``) are excluded by default from the
sensitivity denominator, and alerts that match only such events count neither as true nor as
false, since a sensor that notices a silent heat is not wrong.

Row-level AUC/AP (:func:`row_metrics`) are kept as secondary diagnostics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.time_grid import BUCKET, utc_values
from smx_assets.domain.use_cases.base import EventMatching

HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class EventMetrics:
    """Event-level results; NaN where undefined (no events, no alerts, no cow-days)."""

    n_events: int
    n_events_detected: int
    n_events_excluded: int
    n_alerts: int
    n_alerts_true: int
    n_alerts_false: int
    n_alerts_on_excluded: int
    sensitivity: float
    precision: float
    f1: float
    lead_time_median_h: float
    lead_time_mean_h: float
    cow_days: float
    false_alerts_per_100_cow_days: float

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Flat numbers for ``mlflow.log_metrics`` and Dagster metadata."""
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}


def events_from_gt(gt_events: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Ground-truth rows (herd DB ``gt_events``) of one kind as an events frame.

    ``detectable`` is False when the simulator marked the event silent (``attrs["silent"]``)
    or explicitly undetectable (``attrs["detectable"] is False``).
    """
    df = gt_events.loc[gt_events["kind"] == kind]
    attrs = df["attrs"] if "attrs" in df.columns else pd.Series([None] * len(df), index=df.index)

    def detectable(a: Any) -> bool:
        if not isinstance(a, dict):
            return True
        return not bool(a.get("silent", False)) and a.get("detectable", True) is not False

    return pd.DataFrame({
        "animal_id": df["animal_id"].astype("int64").to_numpy(),
        "start": utc_values(df["start"]),
        "end": utc_values(df["end"]) if "end" in df.columns else pd.NaT,
        "detectable": [detectable(a) for a in attrs],
    }).assign(start=lambda d: pd.to_datetime(d["start"], utc=True),
              end=lambda d: pd.to_datetime(d["end"], utc=True))


def cow_days_from_buckets(scores: pd.DataFrame, bucket: pd.Timedelta = BUCKET) -> float:
    """Cow-days observed = scored (animal, bucket) pairs x bucket length, in days."""
    n = len(scores.drop_duplicates(["animal_id", "bucket_start"])) if not scores.empty else 0
    return n * (bucket / pd.Timedelta(days=1))


def match_alerts(alerts: pd.DataFrame, events: pd.DataFrame, matching: EventMatching) -> pd.DataFrame:
    """All (alert, event) pairs where the alert lies in the event's window.

    Returns columns ``alert_idx`` and ``event_idx`` (positions in the inputs) and
    ``lead_time_h``. A merge on ``animal_id`` keeps this vectorised; alerts and events per animal
    are few, so the pair count stays small.
    """
    cols = ["alert_idx", "event_idx", "lead_time_h"]
    if alerts.empty or events.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c != "lead_time_h" else "float64") for c in cols})
    a = pd.DataFrame({"animal_id": alerts["animal_id"].astype("int64").to_numpy(),
                      "alert_at": utc_values(alerts["bucket_start"]),
                      "alert_idx": np.arange(len(alerts))})
    start = pd.to_datetime(events["start"], utc=True)
    end = pd.to_datetime(events["end"], utc=True) if "end" in events.columns else start
    anchor = end.fillna(start) if matching.end_anchor == "end" else start
    e = pd.DataFrame({"animal_id": events["animal_id"].astype("int64").to_numpy(),
                      "start": start.to_numpy(),
                      "lo": (start + matching.window_start).to_numpy(),
                      "hi": (anchor + matching.window_end).to_numpy(),
                      "event_idx": np.arange(len(events))})
    pairs = a.merge(e, on="animal_id")
    pairs = pairs.loc[(pairs["alert_at"] >= pairs["lo"]) & (pairs["alert_at"] <= pairs["hi"])]
    lead = (pd.to_datetime(pairs["start"], utc=True) - pd.to_datetime(pairs["alert_at"], utc=True)) / HOUR
    return pd.DataFrame({"alert_idx": pairs["alert_idx"].to_numpy(dtype="int64"),
                         "event_idx": pairs["event_idx"].to_numpy(dtype="int64"),
                         "lead_time_h": lead.to_numpy(dtype="float64")})


def _ratio(num: int, den: float) -> float:
    return float(num) / den if den else math.nan


def evaluate_alerts(
    alerts: pd.DataFrame,
    events: pd.DataFrame,
    matching: EventMatching,
    cow_days: float,
    *,
    exclude_undetectable: bool = True,
) -> EventMetrics:
    """Event-level metrics of ``alerts`` (``animal_id``, ``bucket_start``) against ``events``.

    Args:
        events: ``animal_id``, ``start``, optional ``end``, optional ``detectable`` (bool) or
            ``attrs`` (dict with ``silent``); from :func:`events_from_gt` or from label events.
        cow_days: observed animal-days in the evaluation window (the false-alert rate's
            denominator; see :func:`cow_days_from_buckets`).
        exclude_undetectable: drop silent/undetectable events from the metrics (default).
    """
    events = events.reset_index(drop=True)
    alerts = alerts.reset_index(drop=True)
    if "detectable" in events.columns:
        detectable = events["detectable"].fillna(True).astype(bool).to_numpy()
    elif "attrs" in events.columns:
        detectable = np.array([not (isinstance(a, dict) and (a.get("silent") or a.get("detectable") is False))
                               for a in events["attrs"]], dtype=bool)
    else:
        detectable = np.ones(len(events), dtype=bool)
    if not exclude_undetectable:
        detectable = np.ones(len(events), dtype=bool)

    pairs = match_alerts(alerts, events, matching)
    pairs_kept = pairs.loc[detectable[pairs["event_idx"].to_numpy()]] if len(pairs) else pairs
    pairs_excl = pairs.loc[~detectable[pairs["event_idx"].to_numpy()]] if len(pairs) else pairs

    n_events = int(detectable.sum())
    # Earliest matching alert per event gives its lead time.
    first = pairs_kept.groupby("event_idx")["lead_time_h"].max() if len(pairs_kept) else pd.Series(dtype="float64")
    n_detected = int(len(first))
    true_alerts = set(pairs_kept["alert_idx"].tolist())
    on_excluded = set(pairs_excl["alert_idx"].tolist()) - true_alerts
    n_alerts = len(alerts)
    n_false = n_alerts - len(true_alerts) - len(on_excluded)
    n_counted = n_alerts - len(on_excluded)

    sensitivity = _ratio(n_detected, n_events)
    precision = _ratio(len(true_alerts), n_counted)
    if n_events == 0:
        f1 = math.nan
    elif n_counted == 0 or (precision + sensitivity) == 0:
        f1 = 0.0  # events to find and nothing found: a useless model scores 0, not NaN
    else:
        f1 = 2 * precision * sensitivity / (precision + sensitivity)

    return EventMetrics(
        n_events=n_events,
        n_events_detected=n_detected,
        n_events_excluded=int(len(events) - n_events),
        n_alerts=n_alerts,
        n_alerts_true=len(true_alerts),
        n_alerts_false=int(n_false),
        n_alerts_on_excluded=len(on_excluded),
        sensitivity=sensitivity,
        precision=precision,
        f1=float(f1),
        lead_time_median_h=float(first.median()) if n_detected else math.nan,
        lead_time_mean_h=float(first.mean()) if n_detected else math.nan,
        cow_days=float(cow_days),
        false_alerts_per_100_cow_days=_ratio(100 * n_false, float(cow_days)),
    )


def row_metrics(y_true: Any, scores: Any) -> dict[str, float]:
    """Row-level ROC AUC and average precision (secondary; NaN when only one class is present)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype="float64")
    if y.size == 0 or len(np.unique(y)) < 2:
        return {"row_auc": math.nan, "row_ap": math.nan}
    return {"row_auc": float(roc_auc_score(y, s)), "row_ap": float(average_precision_score(y, s))}


def events_from_labels(frame: pd.DataFrame, labels: pd.Series,
                       bucket: pd.Timedelta = BUCKET) -> pd.DataFrame:
    """Events recovered from farm-record labels, for evaluation that must not read ``gt_events``.

    A *span* is a maximal run of an animal's consecutive buckets whose label is not 0 (1 or
    NaN = unknown). A span holding at least one 1 is an event (``start`` = first bucket,
    ``end`` = last bucket + ``bucket``); a span of NaN only is an undetectable event, so an
    alert inside an expected-but-unrecorded heat counts neither as true nor as false (the
    records cannot tell). ``labels`` is aligned with ``frame`` (``animal_id``, ``bucket_start``).
    """
    df = pd.DataFrame({"animal_id": frame["animal_id"].astype("int64").to_numpy(),
                       "t": utc_values(frame["bucket_start"]),
                       "y": pd.to_numeric(labels, errors="coerce").to_numpy(dtype="float64")})
    df = df.loc[df["y"] != 0].sort_values(["animal_id", "t"], kind="stable").reset_index(drop=True)
    cols = {"animal_id": pd.Series(dtype="int64"), "start": pd.Series(dtype="datetime64[ns, UTC]"),
            "end": pd.Series(dtype="datetime64[ns, UTC]"), "detectable": pd.Series(dtype="bool")}
    if df.empty:
        return pd.DataFrame(cols)
    animal = df["animal_id"].to_numpy()
    t = pd.to_datetime(df["t"], utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype("int64")
    new = np.r_[True, (animal[1:] != animal[:-1]) | (np.diff(t) != bucket.value)]
    span = np.cumsum(new)
    g = df.assign(span=span, pos=(df["y"] == 1)).groupby("span")
    out = pd.DataFrame({"animal_id": g["animal_id"].first().to_numpy(),
                        "start": pd.to_datetime(g["t"].min().to_numpy(), utc=True),
                        "end": pd.to_datetime(g["t"].max().to_numpy(), utc=True) + bucket,
                        "detectable": g["pos"].any().to_numpy(dtype=bool)})
    return out.reset_index(drop=True)
