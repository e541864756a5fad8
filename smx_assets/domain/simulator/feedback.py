"""Farmer feedback on the platform's alerts, as DOMAIN.md describes farmers.

Farmers confirm most true alerts (~80%), ignore some, and are wrong about 5% of the time;
confirmation comes late (heats when the cow is inseminated or, for certain, at the pregnancy
check ~40 days later; fevers at diagnosis 0-4 days after onset; calvings when the calf is
there). The simulator judges an alert true against its ground truth, then lets the farmer's
verdict and its delay fall out of the counter RNG keyed by the alert id, so reruns agree.

Monitoring (issue 6) uses this to measure delayed-label model performance on simulated herds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from smx_assets.domain import herd_db as db
from smx_assets.domain.simulator.rng import uniforms3

FEEDBACK_STREAM = 101


@dataclass(frozen=True)
class AlertTruth:
    """Which ground-truth kind makes an alert true, and the window around the event start.

    An alert at ``t`` is true when an event of ``kind`` on the same animal starts in
    ``[t - after_start, t + before_start]`` (``before_start``: how early an alert may come).
    """

    kind: str
    before_start: pd.Timedelta
    after_start: pd.Timedelta
    delay_days: tuple[float, float]  # when the farmer's verdict arrives, after the alert


DEFAULT_TRUTH = {
    "heat": AlertTruth("heat", pd.Timedelta(hours=6), pd.Timedelta(hours=18), (0.5, 2.0)),
    "calving": AlertTruth("calving", pd.Timedelta(hours=36), pd.Timedelta(hours=2), (0.1, 1.5)),
    "fever": AlertTruth("fever", pd.Timedelta(hours=24), pd.Timedelta(days=3), (0.0, 4.0)),
}


def alert_truth(alerts: pd.DataFrame, gt_events: pd.DataFrame,
                truth: dict[str, AlertTruth] | None = None) -> pd.Series:
    """Boolean per alert (index aligned): does a ground-truth event back it?"""
    truth = truth or DEFAULT_TRUTH
    out = pd.Series(False, index=alerts.index)
    for use_case, rule in truth.items():
        sel = alerts[alerts["use_case"] == use_case]
        if sel.empty:
            continue
        ev = gt_events[gt_events["kind"] == rule.kind][["animal_id", "start"]]
        pairs = sel[["animal_id", "bucket_start"]].reset_index().merge(ev, on="animal_id")
        hit = (pairs["start"] >= pairs["bucket_start"] - rule.after_start) & (
            pairs["start"] <= pairs["bucket_start"] + rule.before_start)
        out.loc[pairs.loc[hit, "index"].unique()] = True
    return out


def farmer_feedback(alerts: pd.DataFrame, gt_events: pd.DataFrame, seed: int, *,
                    confirm_true: float = 0.8, wrong: float = 0.05, reject_false: float = 0.6,
                    truth: dict[str, AlertTruth] | None = None) -> pd.DataFrame:
    """Feedback rows (``alert_id, verdict, diagnosis, given_at, note``) for alerts.

    ``alerts`` needs ``id, use_case, animal_id, bucket_start``. True alerts: confirmed with
    ``confirm_true``, wrongly rejected with ``wrong``, otherwise ignored. False alerts: wrongly
    confirmed with ``wrong``, rejected with ``reject_false``, otherwise ignored.
    """
    truth = truth or DEFAULT_TRUTH
    cols = ["alert_id", "verdict", "diagnosis", "given_at", "note"]
    if alerts.empty:
        return pd.DataFrame(columns=cols)
    is_true = alert_truth(alerts, gt_events, truth).to_numpy()
    u_verdict, u_delay, _ = uniforms3(seed, FEEDBACK_STREAM, alerts["id"].to_numpy(np.int64))
    verdict = np.where(
        is_true,
        np.where(u_verdict < confirm_true, "confirmed", np.where(u_verdict < confirm_true + wrong, "rejected", "ignored")),
        np.where(u_verdict < wrong, "confirmed", np.where(u_verdict < wrong + reject_false, "rejected", "ignored")),
    )
    lo = alerts["use_case"].map(lambda u: truth[u].delay_days[0] if u in truth else 0.5).to_numpy(float)
    hi = alerts["use_case"].map(lambda u: truth[u].delay_days[1] if u in truth else 2.0).to_numpy(float)
    given_at = pd.to_datetime(alerts["bucket_start"], utc=True) + pd.to_timedelta(lo + (hi - lo) * u_delay, unit="D")
    return pd.DataFrame({
        "alert_id": alerts["id"].to_numpy(np.int64),
        "verdict": verdict,
        "diagnosis": np.where(verdict == "confirmed", alerts["use_case"].to_numpy(), None),
        "given_at": given_at.dt.floor("s").to_numpy(),
        "note": np.where(is_true, "simulated: event in ground truth", "simulated: no event"),
    })[cols].assign(given_at=lambda d: pd.to_datetime(d["given_at"], utc=True))


def write_feedback(feedback: pd.DataFrame, engine: Engine, as_of: pd.Timestamp | None = None) -> int:
    """Replace the feedback of these alerts with the rows given by ``as_of`` (idempotent).

    ``ignored`` verdicts are written too: the farmer saw the alert and did nothing, which is
    itself information for delayed-label monitoring.
    """
    rows = feedback if as_of is None else feedback[feedback["given_at"] <= pd.Timestamp(as_of)]
    table = db.Feedback.__table__
    ids = [int(v) for v in feedback["alert_id"]]
    records = [
        {"alert_id": int(r.alert_id), "verdict": r.verdict, "diagnosis": r.diagnosis,
         "given_at": db.to_db_ts(r.given_at), "note": r.note}
        for r in rows.itertuples()
    ]
    with engine.begin() as conn:
        for i in range(0, len(ids), 500):
            conn.execute(table.delete().where(table.c.alert_id.in_(ids[i:i + 500])))
        if records:
            conn.execute(table.insert(), records)
    return len(records)


__all__ = ["AlertTruth", "DEFAULT_TRUTH", "alert_truth", "farmer_feedback", "write_feedback"]
