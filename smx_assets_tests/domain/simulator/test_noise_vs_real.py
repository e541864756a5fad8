"""The simulator is as noisy as real collar data (issue 11, item 6).

A simulated herd's bolus activity is summed into 2-hour slots as a collar reports it and compared
with the real SCR Heatime exports of ``bovheat/weekly`` weeks 1-2 (Jan 28 - Feb 11 2019; week 3
is held out of all tuning), both outside heats (+-12 h), with
``smx_assets.domain.simulator.calibration``. The tolerances (also in the README):

* ratio of a 2-hour value to the cow's own hour-of-day median: median within 0.03 of the real
  one; the 90th, 99th and 99.9th percentiles' excess over 1 within 25 % of the real excess
  (real 1.34 / 1.96 / 3.31: p99 1.72-2.20, p99.9 2.73-3.89); before calibration the simulator had
  p99 1.19 and p99.9 1.27 and failed here;
* the 12-hour ratio (the heat rule's scale): p99 excess within 25 % of the real one (real 1.48);
  its p99.9 is not matched (real 2.04, simulated 1.6-1.75: real cows have rare busy spells of
  many hours outside the reference heats that the simulator does not model) and not asserted;
* daily pattern: each 2-hour slot's mean over the cow's mean within 0.12 of the real one;
* lag-1 autocorrelation of the log ratio within 0.06 of the real one (0.13);
* gaps inside a cow's span: share between half and twice the real share (0.5 %), mean length at
  most half a slot above the real one (1.0 slot: real collar gaps are single slots).

The herds: winter (every farm in the barn, like the real exports of January/February) and
summer with every farm on pasture (the noise model does not depend on housing, the level does).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.calibration import (
    ActivityStats,
    activity_statistics,
    read_collar_exports,
    real_collar_grid,
    simulated_collar_grid,
    simulated_event_windows,
)
from smx_assets.domain.use_cases.reference_eval import reference_episodes
from smx_assets_tests.realdata import bovheat_dir

WEEKS_1_2 = ("February 4 2019.xlsx", "February 11 2019.xlsx")
REAL_START, REAL_END = pd.Timestamp("2019-01-28", tz="UTC"), pd.Timestamp("2019-02-11", tz="UTC")

MEDIAN_TOL = 0.03
EXCESS_REL_TOL = 0.25
PROFILE_TOL = 0.12
LAG1_TOL = 0.06
GAP_SHARE_FACTOR = 2.0
GAP_LENGTH_TOL = 0.5

HERDS = {
    "barn": SimConfig(n_animals=120, days=14, seed=7, start=dt.date(2024, 1, 29)),
    "pasture": SimConfig(n_animals=120, days=14, seed=8, start=dt.date(2024, 7, 1), pasture_farm_share=1.0),
}


@pytest.fixture(scope="module")
def real_stats() -> ActivityStats:
    paths = [bovheat_dir() / "weekly" / f for f in WEEKS_1_2]
    readings = read_collar_exports(paths)
    grid = real_collar_grid(readings, reference_episodes(paths), REAL_START, REAL_END)
    return activity_statistics(grid)


def _sim_stats(cfg: SimConfig) -> ActivityStats:
    sim = simulate(cfg)
    grid = simulated_collar_grid(sim.bolus, simulated_event_windows(sim.herd), cfg.start_ts, cfg.end_ts)
    return activity_statistics(grid)


def test_real_reference_is_what_the_readme_reports(real_stats: ActivityStats) -> None:
    """The real figures the tolerances are built on (so a change of the measurement shows here)."""
    q = real_stats.quantiles
    assert real_stats.n_cows == 86
    assert q["median"] == pytest.approx(1.0, abs=0.01)
    assert q["p90"] == pytest.approx(1.34, abs=0.01)
    assert q["p99"] == pytest.approx(1.96, abs=0.01)
    assert q["p99.9"] == pytest.approx(3.31, abs=0.01)
    assert real_stats.lag1 == pytest.approx(0.13, abs=0.01)
    assert real_stats.quantiles_12h["p99"] == pytest.approx(1.48, abs=0.01)
    assert real_stats.quantiles_12h["p99.9"] == pytest.approx(2.04, abs=0.01)
    assert real_stats.gap_share == pytest.approx(0.005, abs=0.002)


@pytest.mark.parametrize("housing", sorted(HERDS))
def test_simulated_activity_is_as_noisy_as_real(real_stats: ActivityStats, housing: str) -> None:
    sim = _sim_stats(HERDS[housing])
    report = "\nreal:\n  " + "\n  ".join(real_stats.lines()) + f"\nsimulated ({housing}):\n  " + "\n  ".join(sim.lines())
    assert sim.n_values > 10_000, report
    assert abs(sim.quantiles["median"] - real_stats.quantiles["median"]) <= MEDIAN_TOL, report
    for name in ("p90", "p99", "p99.9"):
        real_excess = real_stats.quantiles[name] - 1.0
        sim_excess = sim.quantiles[name] - 1.0
        assert abs(sim_excess / real_excess - 1.0) <= EXCESS_REL_TOL, f"{name}{report}"
    real_12h = real_stats.quantiles_12h["p99"] - 1.0
    assert abs((sim.quantiles_12h["p99"] - 1.0) / real_12h - 1.0) <= EXCESS_REL_TOL, f"12h p99{report}"
    assert np.max(np.abs(sim.profile - real_stats.profile)) <= PROFILE_TOL, report
    assert abs(sim.lag1 - real_stats.lag1) <= LAG1_TOL, report
    assert real_stats.gap_share / GAP_SHARE_FACTOR <= sim.gap_share <= real_stats.gap_share * GAP_SHARE_FACTOR, report
    assert sim.gap_mean_slots <= real_stats.gap_mean_slots + GAP_LENGTH_TOL, report


def test_calibrated_noise_is_deterministic_and_window_independent() -> None:
    """Same seed, same activity; a day generated inside a longer window equals the day alone."""
    cfg = SimConfig(n_animals=20, days=3, seed=7, start=dt.date(2024, 1, 29))
    a = simulate(cfg).bolus
    b = simulate(cfg).bolus
    pd.testing.assert_frame_equal(a, b)
    day2 = simulate(SimConfig(n_animals=20, days=1, seed=7, start=dt.date(2024, 1, 30))).bolus
    inside = a[(a["ts"] >= day2["ts"].min()) & (a["ts"] <= day2["ts"].max())].reset_index(drop=True)
    pd.testing.assert_frame_equal(inside[["animal_id", "ts", "activity"]], day2[["animal_id", "ts", "activity"]])
    other = simulate(SimConfig(n_animals=20, days=3, seed=8, start=dt.date(2024, 1, 29))).bolus
    assert not np.allclose(a["activity"].to_numpy()[:1000], other["activity"].to_numpy()[:1000])
