"""The facts behind an alert's story, as plain numbers (``smx explain`` words and prints them).

An alert is believed when a person can check it against the cow: what her sensors showed
compared with her own usual, which of the model's inputs stood out against the rest of the
herd in the same ten minutes, and how the score crossed the threshold under the use case's
alert policy. Each function takes frames already read (readings, the bucket's feature rows,
stored scores) and returns a small dict, so the wording stays in the command and the
arithmetic is tested here without a database.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

BUCKET = pd.Timedelta(minutes=10)
DAY = pd.Timedelta(days=1)
TEMP_WINDOW = pd.Timedelta(hours=6)  # fever and calving show over hours
ACTIVITY_WINDOW = pd.Timedelta(hours=2)  # heat shows as a few hours of restlessness
USUAL_DAYS = 7  # "her usual": the same clock hours on the previous days
TOP_FEATURES = 5


def _utc(values: pd.Series) -> pd.Series:
    out = pd.to_datetime(values)
    return out.dt.tz_localize("UTC") if out.dt.tz is None else out.dt.tz_convert("UTC")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _same_hours(frame: pd.DataFrame, end: pd.Timestamp, width: pd.Timedelta, days: int) -> pd.DataFrame:
    """Rows of the ``width`` before ``end`` on each of the ``days`` previous days (same clock hours)."""
    masks = [(frame["ts"] >= end - d * DAY - width) & (frame["ts"] < end - d * DAY) for d in range(1, days + 1)]
    return frame[np.logical_or.reduce(masks)] if masks else frame.iloc[0:0]


def signal_summary(readings: pd.DataFrame, bucket: pd.Timestamp) -> dict[str, Any]:
    """The cow's temperature and activity just before the alert against her same hours on the
    previous :data:`USUAL_DAYS` days.

    ``readings``: ``ts``, ``temp_c``, ``activity`` of this cow from at least ``USUAL_DAYS`` days
    before ``bucket`` to its end. Temperature is a median (drinking drops pull a mean down).
    """
    end = bucket + BUCKET
    r = readings.assign(ts=_utc(readings["ts"])) if len(readings) else readings.assign(ts=pd.Series(dtype="datetime64[ns, UTC]"))
    out: dict[str, Any] = {"readings_in_bucket": int(((r["ts"] >= bucket) & (r["ts"] < end)).sum()) if len(r) else 0,
                           "usual_days": USUAL_DAYS}
    recent_t = r[(r["ts"] >= end - TEMP_WINDOW) & (r["ts"] < end)]["temp_c"] if len(r) else pd.Series(dtype=float)
    usual_t = _same_hours(r, end, TEMP_WINDOW, USUAL_DAYS)["temp_c"] if len(r) else pd.Series(dtype=float)
    t_now, t_usual = _num(recent_t.median()), _num(usual_t.median())
    out["temperature"] = {"hours": TEMP_WINDOW / pd.Timedelta(hours=1), "median_c": t_now, "usual_median_c": t_usual,
                          "delta_c": None if t_now is None or t_usual is None else round(t_now - t_usual, 3),
                          "readings": int(recent_t.notna().sum())}
    recent_a = r[(r["ts"] >= end - ACTIVITY_WINDOW) & (r["ts"] < end)]["activity"] if len(r) else pd.Series(dtype=float)
    usual_a = _same_hours(r, end, ACTIVITY_WINDOW, USUAL_DAYS)["activity"] if len(r) else pd.Series(dtype=float)
    a_now, a_usual = _num(recent_a.mean()), _num(usual_a.mean())
    out["activity"] = {"hours": ACTIVITY_WINDOW / pd.Timedelta(hours=1), "mean": a_now, "usual_mean": a_usual,
                       "ratio": None if a_now is None or not a_usual else round(a_now / a_usual, 3),
                       "readings": int(recent_a.notna().sum())}
    return out


def herd_comparison(herd: pd.DataFrame, animal_id: int, values: dict[str, Any], top: int = TOP_FEATURES
                    ) -> dict[str, Any]:
    """The model's inputs for this cow that stood out most against the herd's in the same bucket.

    ``herd``: the bucket's feature rows of every animal scored (``animal_id`` + feature columns);
    ``values``: the cow's inputs as the alert recorded them (what the model saw). Each feature
    gets the herd's median, the share of other cows below the cow's value (ties count half) and
    a robust z (distance from the median in MAD units); the ``top`` furthest out are returned,
    furthest first.
    """
    others = herd[herd["animal_id"].astype(int) != int(animal_id)] if "animal_id" in herd else herd
    rows: list[dict[str, Any]] = []
    for name, raw in values.items():
        v = _num(raw)
        if v is None or name not in others:
            continue
        col = pd.to_numeric(others[name], errors="coerce").dropna()
        if col.empty:
            continue
        med = float(col.median())
        mad = float((col - med).abs().median()) * 1.4826
        scale = mad if mad > 0 else float(col.std(ddof=0))
        z = (v - med) / scale if scale > 0 else (0.0 if v == med else math.copysign(99.0, v - med))
        below = float(((col < v).sum() + 0.5 * (col == v).sum()) / len(col))
        rows.append({"feature": name, "value": v, "herd_median": med, "share_below": round(below, 3),
                     "robust_z": round(max(-99.0, min(99.0, z)), 2)})
    rows.sort(key=lambda d: (abs(d["share_below"] - 0.5), abs(d["robust_z"])), reverse=True)
    return {"herd_animals": int(others["animal_id"].nunique()) if "animal_id" in others else len(others),
            "features_compared": len(rows), "top": rows[:top]}


def score_run(scores: pd.DataFrame, bucket: pd.Timestamp, threshold: float) -> dict[str, Any]:
    """How the score reached the alert: the unbroken run of buckets at or above ``threshold``
    that ends at the alert's bucket, and the highest score before it.

    ``scores``: ``bucket_start``, ``score`` of this cow, use case and champion (any window
    ending at or after ``bucket``).
    """
    if scores.empty:
        return {"buckets_above": 0, "above_since": None, "previous_max": None, "scores_read": 0}
    s = scores.assign(bucket_start=_utc(scores["bucket_start"])).set_index("bucket_start")["score"].sort_index()
    s = s[s.index <= bucket]
    run_start, n = None, 0
    expected = bucket
    for ts, value in s[::-1].items():
        if ts != expected or float(value) < threshold:
            break
        run_start, n, expected = ts, n + 1, ts - BUCKET
    before = s[s.index < (run_start if run_start is not None else bucket)]
    return {"buckets_above": n, "above_since": run_start.isoformat() if run_start is not None else None,
            "previous_max": _num(before.max()) if len(before) else None, "scores_read": int(len(s))}


__all__ = ["herd_comparison", "score_run", "signal_summary"]
