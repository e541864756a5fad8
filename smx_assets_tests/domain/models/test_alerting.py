"""Alert policy: one alert per episode, refractory per animal, batch == incremental."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.use_cases.alerting import apply_alert_policy, update_last_alert_at
from smx_assets.domain.use_cases.base import AlertPolicy

T0 = pd.Timestamp("2025-05-01 00:00", tz="UTC")
B = pd.Timedelta(minutes=10)


def frame(animal_scores: dict[int, list[float]]) -> pd.DataFrame:
    rows = []
    for a, scores in animal_scores.items():
        for i, s in enumerate(scores):
            rows.append((a, T0 + i * B, s))
    return pd.DataFrame(rows, columns=["animal_id", "bucket_start", "score"])


def times(alerts: pd.DataFrame, animal: int | None = None) -> list[int]:
    """Alert bucket indices (relative to T0) for compact assertions."""
    a = alerts if animal is None else alerts[alerts["animal_id"] == animal]
    return [int((t - T0) / B) for t in a["bucket_start"]]


def test_one_alert_per_episode_even_when_longer_than_refractory() -> None:
    scores = [0.1] + [0.9] * 200 + [0.1]  # a 33 h episode, refractory 1 h
    alerts = apply_alert_policy(frame({1: scores}), AlertPolicy(0.5, refractory="1h"))
    assert times(alerts) == [1]
    assert alerts["episode_start"].iloc[0] == T0 + B


def test_refractory_suppresses_flicker_and_allows_later_episode() -> None:
    #           0    1    2    3    4    5    6    7  ...  buckets; refractory = 3 buckets
    scores = [0.1, 0.9, 0.2, 0.9, 0.2, 0.9, 0.1, 0.1, 0.9]
    alerts = apply_alert_policy(frame({1: scores}), AlertPolicy(0.5, refractory=3 * B))
    # 1 alerts; 3 is within 3 buckets of 1; 5 is not (5 >= 1 + 3) -> alerts; 8 >= 5 + 3 -> alerts
    assert times(alerts) == [1, 5, 8]


def test_refractory_is_per_animal() -> None:
    alerts = apply_alert_policy(frame({1: [0.9, 0.1, 0.9], 2: [0.1, 0.9, 0.1]}),
                                AlertPolicy(0.5, refractory="12h"))
    assert times(alerts, 1) == [0]
    assert times(alerts, 2) == [1]


def test_min_consecutive_and_gaps_break_runs() -> None:
    f = frame({1: [0.9, 0.1, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9]})
    alerts = apply_alert_policy(f, AlertPolicy(0.5, refractory="0h", min_consecutive=3))
    assert times(alerts) == [7]  # only the run 5..7 reaches 3 buckets
    # Remove bucket 6: 5 and 7 are no longer consecutive, nothing confirms.
    gap = f.drop(index=6)
    assert apply_alert_policy(gap, AlertPolicy(0.5, refractory="0h", min_consecutive=3)).empty
    # NaN scores count as below threshold.
    f.loc[6, "score"] = np.nan
    assert apply_alert_policy(f, AlertPolicy(0.5, refractory="0h", min_consecutive=2)).empty is False


def test_last_alert_at_carries_refractory_across_calls() -> None:
    policy = AlertPolicy(0.5, refractory="12h")
    f = frame({1: [0.1, 0.9], 2: [0.1, 0.9]})
    last = {1: T0 - pd.Timedelta(hours=2), 2: T0 - pd.Timedelta(hours=13)}
    alerts = apply_alert_policy(f, policy, last_alert_at=last)
    assert alerts["animal_id"].tolist() == [2]
    # naive timestamps are UTC, as the herd DB stores them
    naive = {1: (T0 - pd.Timedelta(hours=2)).tz_localize(None)}
    assert apply_alert_policy(f, policy, last_alert_at=naive)["animal_id"].tolist() == [2]


def reference_alerts(scores: pd.DataFrame, policy: AlertPolicy) -> list[tuple[int, pd.Timestamp]]:
    """A deliberately naive row-by-row implementation of the documented rules."""
    out = []
    for a, g in scores.sort_values("bucket_start").groupby("animal_id"):
        last_alert, run_len, prev_t = None, 0, None
        for t, s in zip(g["bucket_start"], g["score"]):
            contiguous = prev_t is not None and t - prev_t == policy.bucket
            run_len = (run_len + 1 if contiguous else 1) if s >= policy.threshold else 0
            prev_t = t
            if run_len == policy.min_consecutive and (last_alert is None or t >= last_alert + policy.refractory):
                out.append((int(a), t))
                last_alert = t
    return sorted(out, key=lambda x: (x[1], x[0]))


@pytest.mark.parametrize("min_consecutive,refractory", [(1, "1h"), (2, "12h"), (3, "30min"), (2, "0h")])
def test_batch_matches_reference_and_incremental(min_consecutive: int, refractory: str) -> None:
    rng = np.random.default_rng(min_consecutive)
    n = 6 * 24  # one day
    animals = {}
    for a in range(1, 6):
        # a slowly varying score with episodes, plus noise so it flickers around the threshold
        base = np.convolve(rng.random(n) > 0.97, np.ones(40), mode="same").clip(0, 1) * 0.7
        animals[a] = (base + rng.normal(0, 0.12, n)).clip(0, 1).tolist()
    scores = frame(animals)
    scores = scores.drop(index=rng.choice(len(scores), 30, replace=False))  # some missing buckets
    policy = AlertPolicy(0.5, refractory=refractory, min_consecutive=min_consecutive)

    batch = apply_alert_policy(scores, policy)
    expected = reference_alerts(scores, policy)
    assert list(zip(batch["animal_id"], batch["bucket_start"])) == expected
    assert len(expected) > 5  # the data really exercises the rules

    # Incremental: each 10-minute run sees its bucket plus policy.lookback of history.
    state: dict[int, pd.Timestamp] = {}
    got = []
    for i in range(n):
        now = T0 + i * B
        window = scores[(scores["bucket_start"] >= now - policy.lookback) & (scores["bucket_start"] <= now)]
        alerts = apply_alert_policy(window, policy, last_alert_at=state, emit_from=now)
        state = update_last_alert_at(state, alerts)
        got += list(zip(alerts["animal_id"], alerts["bucket_start"]))
    assert sorted(got, key=lambda x: (x[1], x[0])) == expected


def test_empty_and_column_errors() -> None:
    empty = apply_alert_policy(frame({}), AlertPolicy(0.5))
    assert empty.empty and list(empty.columns)[:3] == ["animal_id", "bucket_start", "score"]
    with pytest.raises(KeyError):
        apply_alert_policy(pd.DataFrame({"animal_id": [1]}), AlertPolicy(0.5))
