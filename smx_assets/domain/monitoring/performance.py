"""Live model performance from labels that had *arrived* by a cutoff, per model version.

Labels on a farm come late: an insemination (the heat label) is entered hours to days after the
heat, a calving when the calf is there, a diagnosis 0-4 days after fever onset, a farmer's
verdict on an alert whenever they get to it. Monitoring for day D must use exactly what the farm
software held at the end of D, or the history of this metric would change every time it is
recomputed and would flatter past models. So:

* farm records go through :meth:`FarmRecords.known_by` (``recorded_at`` < cutoff; confirmed
  heat alerts by the feedback's ``given_at``);
* farmer feedback counts only with ``given_at`` < cutoff;
* alerts and events are evaluated over a window that ends ``label_delay`` before the cutoff,
  so most of their labels have had time to arrive (the numbers of labelled events and alerts
  are reported with every figure).

Events come from records, never from the simulator's ground truth, and are anchored on the
record's own time (insemination, calving, diagnosis): lead time is therefore "hours before the
farm recorded the event", consistent from day to day and version to version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from smx_assets.domain.features.labels import FEBRILE, NOT_FEBRILE
from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.use_cases.base import EventMatching
from smx_assets.domain.use_cases.evaluation import evaluate_alerts

H = pd.Timedelta(hours=1)
# Alert time relative to the record's time for the alert to count as detecting that event.
RECORD_MATCHING: dict[str, EventMatching] = {
    "heat": EventMatching(window_start=-30 * H, window_end=6 * H),  # insemination ~12 h after onset
    "calving": EventMatching(window_start=-48 * H, window_end=0 * H),
    "fever": EventMatching(window_start=-120 * H, window_end=24 * H),  # diagnosis 0-4 days after onset
}


@dataclass(frozen=True)
class PerformancePolicy:
    window_days: int = 14  # evaluation window length
    label_delay_days: int = 4  # the window ends this long before the cutoff
    tolerance: float = 0.15  # degradation: live metric below training metric minus this
    min_events: int = 5  # sensitivity is judged only with this many labelled events
    min_alerts: int = 5  # precision is judged only with this many alerts

    def window(self, cutoff: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
        end = cutoff - pd.Timedelta(days=self.label_delay_days)
        return end - pd.Timedelta(days=self.window_days), end


@dataclass
class VersionPerformance:
    use_case: str
    model_version: str
    n_alerts: int
    n_events: int
    n_events_detected: int
    sensitivity: float
    precision: float
    lead_time_median_h: float
    n_feedback: int
    precision_feedback: float
    cow_days: float
    training: dict[str, float] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        def r(v: float) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)

        return {"n_alerts": self.n_alerts, "n_events": self.n_events, "n_events_detected": self.n_events_detected,
                "sensitivity": r(self.sensitivity), "precision": r(self.precision),
                "lead_time_median_h": r(self.lead_time_median_h), "n_feedback": self.n_feedback,
                "precision_feedback": r(self.precision_feedback), "cow_days": r(self.cow_days),
                "training": {k: r(v) for k, v in self.training.items()}, "degraded": self.degraded}


def record_events(records: FarmRecords, kind: str) -> pd.DataFrame:
    """Events (``animal_id``, ``start``) the farm records show for a use-case kind."""
    if kind == "heat":
        frames = [records.inseminations[["animal_id", "at"]].rename(columns={"at": "start"}),
                  records.heat_feedback[["animal_id", "heat_at"]].rename(columns={"heat_at": "start"})]
        ev = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else frames[0]
        # An insemination and the confirmed alert of the same heat are one event.
        ev = ev.sort_values(["animal_id", "start"])
        gap = ev.groupby("animal_id")["start"].diff()
        ev = ev[gap.isna() | (gap > pd.Timedelta(days=3))]
    elif kind == "calving":
        ev = records.lactations[["animal_id", "calving_at"]].rename(columns={"calving_at": "start"})
    elif kind == "fever":
        t = records.treatments
        diag = t["diagnosis"].fillna("").str.lower()
        febrile = diag.apply(lambda d: any(k in d for k in FEBRILE) and not any(k in d for k in NOT_FEBRILE))
        ev = t.loc[febrile, ["animal_id", "diagnosed_at"]].rename(columns={"diagnosed_at": "start"})
    else:
        return pd.DataFrame({"animal_id": pd.Series(dtype="int64"), "start": pd.Series(dtype="datetime64[ns, UTC]")})
    ev = ev.dropna(subset=["start"]).copy()
    ev["start"] = pd.to_datetime(ev["start"], utc=True)
    return ev.reset_index(drop=True)


def live_performance(
    *,
    use_case: str,
    kind: str,
    records: FarmRecords,
    alerts: pd.DataFrame,
    feedback: pd.DataFrame,
    coverage: pd.DataFrame,
    cutoff: pd.Timestamp,
    policy: PerformancePolicy = PerformancePolicy(),
    training_metrics: dict[str, dict[str, float]] | None = None,
    scored_animals: set[int] | None = None,
) -> list[VersionPerformance]:
    """Per champion version of ``use_case``: precision, sensitivity and lead time as of ``cutoff``.

    Args:
        records: all farm records (this function applies ``known_by(cutoff)``).
        alerts: the use case's alerts (``id``, ``animal_id``, ``bucket_start``, ``model_version``).
        feedback: ``alert_id``, ``verdict``, ``given_at`` (all of it; filtered here).
        coverage: champion predictions per (``day``, ``model_version``) with ``animals`` and
            ``animal_buckets``: which version was scoring when, and the cow-days it watched.
        training_metrics: model version -> metrics logged at training (compared, not required).
        scored_animals: animals the champion scored in the window (events of others are dropped).
    """
    cutoff = pd.Timestamp(cutoff)
    lo, hi = policy.window(cutoff)
    known = records.known_by(cutoff)
    events = record_events(known, kind)
    events = events[(events["start"] >= lo) & (events["start"] < hi)]
    cov = coverage[(coverage["day"] >= lo.normalize()) & (coverage["day"] < hi)].copy()
    if cov.empty:
        return []
    if scored_animals is not None:  # an event of a cow without a bolus is nobody's miss
        events = events[events["animal_id"].isin(set(scored_animals))]
    # The version scoring on an event's day owns the event (most buckets that day if two did).
    owner = (cov.sort_values("animal_buckets").drop_duplicates("day", keep="last").set_index("day")["model_version"])
    ev_days = events["start"].dt.normalize()
    events = events.assign(model_version=ev_days.map(owner))
    a = alerts.copy()
    a["bucket_start"] = pd.to_datetime(a["bucket_start"], utc=True)
    a = a[(a["bucket_start"] >= lo) & (a["bucket_start"] < hi)]
    fb = feedback.copy()
    if len(fb):
        fb = fb[pd.to_datetime(fb["given_at"], utc=True) < cutoff]
    matching = RECORD_MATCHING.get(kind)
    out: list[VersionPerformance] = []
    for version, vcov in cov.groupby("model_version"):
        va = a[a["model_version"].astype(str) == str(version)].reset_index(drop=True)
        ve = events[events["model_version"].astype(str) == str(version)].reset_index(drop=True)
        cow_days = float(vcov["animal_buckets"].sum()) / 144.0
        if matching is not None:
            m = evaluate_alerts(va[["animal_id", "bucket_start"]], ve[["animal_id", "start"]], matching, cow_days)
            sens, prec, lead = m.sensitivity, m.precision, m.lead_time_median_h
            n_det = m.n_events_detected
        else:
            sens = prec = lead = math.nan
            n_det = 0
        vfb = fb[fb["alert_id"].isin(set(va["id"]))] if len(fb) and "id" in va else fb.iloc[0:0]
        judged = vfb[vfb["verdict"].isin(["confirmed", "rejected"])]
        prec_fb = float((judged["verdict"] == "confirmed").mean()) if len(judged) else math.nan
        vp = VersionPerformance(use_case=use_case, model_version=str(version), n_alerts=len(va), n_events=len(ve),
                                n_events_detected=n_det, sensitivity=sens, precision=prec, lead_time_median_h=lead,
                                n_feedback=len(judged), precision_feedback=prec_fb, cow_days=cow_days)
        vp.training = dict((training_metrics or {}).get(str(version), {}))
        vp.degraded = degradation(vp, policy)
        out.append(vp)
    return out


def degradation(vp: VersionPerformance, policy: PerformancePolicy) -> list[str]:
    """Metrics clearly below training, judged only with enough labelled support."""
    bad = []
    checks = (("sensitivity", vp.sensitivity, vp.n_events >= policy.min_events),
              ("precision", vp.precision, vp.n_alerts >= policy.min_alerts))
    for name, live, supported in checks:
        ref = vp.training.get(name, math.nan)
        if supported and not math.isnan(live) and not math.isnan(ref) and live < ref - policy.tolerance:
            bad.append(f"{name} {live:.2f} < training {ref:.2f} - {policy.tolerance}")
    return bad


def judged_metrics(vp: VersionPerformance, policy: PerformancePolicy) -> list[str]:
    """The metrics :func:`degradation` could actually compare (enough support, a live value and a
    training value): an empty list means the version was not judged, which a check must say
    instead of passing."""
    checks = (("sensitivity", vp.sensitivity, vp.n_events >= policy.min_events),
              ("precision", vp.precision, vp.n_alerts >= policy.min_alerts))
    return [name for name, live, supported in checks
            if supported and not math.isnan(live) and not math.isnan(vp.training.get(name, math.nan))]


def not_judged_reasons(use_case: str, perf: list[VersionPerformance], policy: PerformancePolicy,
                       window: tuple[pd.Timestamp, pd.Timestamp], scored_days: list[pd.Timestamp]) -> list[str]:
    """Why nothing of ``use_case`` could be judged in ``window``, in the words a person can act on.

    "Nothing scored" is only said when nothing was: the usual reason in a young deployment is
    that every score lies after the window (which ends ``label_delay_days`` before the day so
    that labels can arrive), and then the reason names the window and the scored days. A version
    with scores is not judged for too few labelled events or alerts, said with the counts.
    Versions that were judged give no reason.
    """
    lo, hi = window
    span = f"{lo:%Y-%m-%d}..{hi:%Y-%m-%d %H:%M}"
    if not perf:
        if not scored_days:
            return [f"{use_case}: nothing scored yet"]
        first, last = min(scored_days), max(scored_days)
        where = "after" if first >= hi else ("before" if last < lo else "around")
        return [f"{use_case}: no champion scores in the window {span} (it ends {policy.label_delay_days} days "
                f"before the day so labels can arrive); scores exist {where} it, {first:%Y-%m-%d}..{last:%Y-%m-%d}"]
    out = []
    for vp in perf:
        if judged_metrics(vp, policy):
            continue
        short = []
        if vp.n_events < policy.min_events:
            short.append(f"{vp.n_events} labelled events (needs {policy.min_events})")
        if vp.n_alerts < policy.min_alerts:
            short.append(f"{vp.n_alerts} alerts (needs {policy.min_alerts})")
        if not short:
            short.append("no training metrics to compare with")
        out.append(f"{use_case} v{vp.model_version}: {' and '.join(short)} in the window {span}")
    return out
