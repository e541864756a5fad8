"""Heat alerts on imported real exports against a published reference (evaluation only).

The BovHEAT reference (its README and paper): a heat is an unbroken run of 2-hour slots with the
collar vendor's ``Activity Change`` >= 35, gaps of up to 2 slots linearly interpolated; episodes
whose peak lies within days -1..+3 of a calving are calving activity and count neither way. An
alert detects an episode when it falls in ``[start - 12 h, end + 12 h]``.

``Activity Change`` is the answer key: only :func:`reference_episodes` reads it, from the export
files themselves; the detector (:func:`detect_heats`) reads the stores the importer filled, which
never hold it. No Dagster here; ``bench/evaluate_real.py`` and the tests call these functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from smx_assets.domain.features import compute_features
from smx_assets.domain.features.baselines import baselines_from_store
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.features.profile import FarmRecords
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.use_cases.alerting import apply_alert_policy
from smx_assets.domain.use_cases.base import UseCase

SLOT = pd.Timedelta(hours=2)
DAY = pd.Timedelta(days=1)
THRESHOLD = 35.0
MAX_GAP_SLOTS = 2
CALVING_DAYS = (-1, 3)
MATCH = pd.Timedelta(hours=12)


def read_answer_key(path: str | Path) -> pd.DataFrame:
    """``cow_number`` (str), ``ts`` (slot start, naive = UTC), ``activity_change``, ``dim`` from a weekly export."""
    frame = pd.read_excel(path, engine="calamine")
    frame = frame[frame["Lactation Number"].notna()]  # footer rows
    day = pd.to_datetime(frame["Date"]).dt.strftime("%Y-%m-%d")
    ts = pd.to_datetime(day + " " + frame["Time"].astype(str), format="%Y-%m-%d %I:%M %p")
    return pd.DataFrame({"cow_number": frame["Cow Number"].astype("int64").astype(str),
                         "ts": ts.dt.tz_localize("UTC"),
                         "activity_change": pd.to_numeric(frame["Activity Change"], errors="coerce"),
                         "dim": pd.to_numeric(frame["Days in Lactation"], errors="coerce"),
                         "lactation": frame["Lactation Number"]})


def _interpolate_short_gaps(s: pd.Series, limit: int = MAX_GAP_SLOTS) -> pd.Series:
    isna = s.isna()
    run = isna.groupby((isna != isna.shift()).cumsum()).transform("sum")
    return s.where(~(isna & (run <= limit)), s.interpolate(limit_area="inside"))


def reference_episodes(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per reference episode: ``cow_number, start, end, peak, peak_value, calving``.

    Files are combined per cow (consecutive weekly exports overlap at midnight: the copy with a
    value wins) so an episode across two files is one episode.
    """
    key = pd.concat([read_answer_key(p) for p in paths], ignore_index=True)
    key = (key.assign(has=key["activity_change"].notna()).sort_values(["cow_number", "ts", "has"])
           .drop_duplicates(["cow_number", "ts"], keep="last"))
    rows = []
    for cow, g in key.groupby("cow_number"):
        g = g.set_index("ts").sort_index()
        calvings = {(i - pd.Timedelta(days=float(h.loc[i, "dim"]))).normalize()
                    for _, h in g.dropna(subset=["dim"]).groupby("lactation") for i in [h["dim"].idxmin()]}
        g = g.reindex(pd.date_range(g.index.min(), g.index.max(), freq=SLOT))
        ac = _interpolate_short_gaps(g["activity_change"])
        above = (ac >= THRESHOLD).to_numpy()
        edges = np.flatnonzero(np.diff(np.concatenate([[0], above.astype(int), [0]])))
        for i, j in zip(edges[::2], edges[1::2] - 1):
            seg = ac.iloc[i:j + 1]
            peak = seg.idxmax()
            days = [(peak.normalize() - c).days for c in calvings]
            rows.append({"cow_number": cow, "start": ac.index[i], "end": ac.index[j], "peak": peak,
                         "peak_value": float(seg.max()),
                         "calving": any(CALVING_DAYS[0] <= d <= CALVING_DAYS[1] for d in days)})
    cols = ["cow_number", "start", "end", "peak", "peak_value", "calving"]
    return pd.DataFrame(rows, columns=cols)


def detect_heats(store: SensorStore, records: FarmRecords, uc: UseCase, start: pd.Timestamp, end: pd.Timestamp,
                 model: str = "rule") -> pd.DataFrame:
    """Heat alerts over ``[start, end)``: daily baselines, features, the rule, the alert policy.

    The functions the ``sensor_baselines``/``training_features``/``scores`` assets call, day by
    day, so real exports of any date go through the one feature code path.
    """
    days = list(pd.date_range(start, end, freq="D", inclusive="left"))
    baselines = baselines_from_store(store, days)
    empty = store.read_climate(start - LOOKBACK, end)
    frames = []
    for d in days:
        readings = store.read_bolus(d - LOOKBACK, d + DAY)
        f = compute_features(readings, empty, records.known_by(d + DAY), baselines[d], (d, d + DAY))
        frames.append(f)
    feats = pd.concat(frames, ignore_index=True)
    scores = feats[["animal_id", "bucket_start"]].copy()
    scores["score"] = uc.rule_baseline.score(feats)
    return apply_alert_policy(scores, uc.alert_policy)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (NaN for n = 0): honest at small n and at 0 or 1."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


@dataclass(frozen=True)
class Agreement:
    episodes: int
    detected: int
    alerts: int
    true_alerts: int
    cow_days: float

    @property
    def sensitivity(self) -> float:
        return self.detected / self.episodes if self.episodes else math.nan

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else math.nan

    @property
    def f1(self) -> float:
        s, p = self.sensitivity, self.precision
        return 2 * s * p / (s + p) if s + p > 0 else math.nan

    @property
    def false_per_100_cow_days(self) -> float:
        return 100.0 * (self.alerts - self.true_alerts) / self.cow_days if self.cow_days else math.nan

    def false_interval(self) -> tuple[float, float]:
        """Exact Poisson 95 % interval of false alerts per 100 cow-days."""
        from scipy.stats import chi2

        k = self.alerts - self.true_alerts
        lo = chi2.ppf(0.025, 2 * k) / 2 if k > 0 else 0.0
        hi = chi2.ppf(0.975, 2 * (k + 1)) / 2
        return (100 * lo / self.cow_days, 100 * hi / self.cow_days)

    def lines(self) -> list[str]:
        s_lo, s_hi = wilson(self.detected, self.episodes)
        p_lo, p_hi = wilson(self.true_alerts, self.alerts)
        f_lo, f_hi = self.false_interval()
        return [f"sensitivity {self.sensitivity:.3f} (95 % CI {s_lo:.3f}-{s_hi:.3f}; "
                f"{self.detected} of {self.episodes} episodes)",
                f"precision   {self.precision:.3f} (95 % CI {p_lo:.3f}-{p_hi:.3f}; {self.true_alerts} of {self.alerts} alerts)",
                f"F1          {self.f1:.3f}",
                f"false alerts per 100 cow-days {self.false_per_100_cow_days:.2f} (95 % CI {f_lo:.2f}-{f_hi:.2f}; "
                f"{self.alerts - self.true_alerts} false over {self.cow_days:.0f} cow-days)"]


def agreement(alerts: pd.DataFrame, episodes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
              cow_days: float) -> Agreement:
    """Alerts (``cow_number``, ``alert_time``) in ``[start, end)`` against the episodes starting there.

    An alert is true when it falls in the window of any reference episode (of any period) of its
    cow; alerts that only match calving episodes are left out, as those episodes are.
    """
    a = alerts[(alerts["alert_time"] >= start) & (alerts["alert_time"] < end)]
    true = calving_only = 0
    for cow, t in zip(a["cow_number"], a["alert_time"]):
        m = episodes[(episodes["cow_number"] == cow) & (episodes["start"] - MATCH <= t) & (t <= episodes["end"] + MATCH)]
        if (~m["calving"]).any():
            true += 1
        elif len(m):
            calving_only += 1
    ev = episodes[(episodes["start"] >= start) & (episodes["start"] < end) & ~episodes["calving"]]
    detected = 0
    for cow, s, e in zip(ev["cow_number"], ev["start"], ev["end"]):
        hit = alerts[(alerts["cow_number"] == cow) & (alerts["alert_time"] >= s - MATCH) & (alerts["alert_time"] <= e + MATCH)]
        detected += int(len(hit) > 0)
    return Agreement(episodes=len(ev), detected=detected, alerts=len(a) - calving_only, true_alerts=true,
                     cow_days=cow_days)
