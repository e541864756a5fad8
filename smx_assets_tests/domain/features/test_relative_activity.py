"""The heat signal relative to the cow's own baseline: gaps, sensor cadence and persistence."""

from __future__ import annotations

import numpy as np

from smx_assets.domain.features.relative_activity import (
    PERSIST_4H,
    WINDOW_12H,
    ratio_over_baseline,
    relative_activity_features,
)

J0 = WINDOW_12H + PERSIST_4H  # enough history for both features
N = J0 + 48


def _collar(values_2h: np.ndarray, spread: bool) -> np.ndarray:
    """One row of 2-hour readings on the 10-minute grid: spread over 12 buckets or in the first."""
    out = np.full((1, len(values_2h) * 12), np.nan)
    for i, v in enumerate(values_2h):
        if spread:
            out[0, i * 12:(i + 1) * 12] = v / 12.0
        else:
            out[0, i * 12] = v
    return out


def test_ratio_is_the_same_for_a_spread_and_a_single_bucket_collar_reading() -> None:
    rng = np.random.default_rng(3)
    raw = rng.uniform(20, 60, N // 12 + 1)
    base = np.full(len(raw), 40.0)
    a = ratio_over_baseline(_collar(raw, True), _collar(base, True), J0, J0 + 12 * 4)
    b = ratio_over_baseline(_collar(raw, False), _collar(base, False), J0, J0 + 12 * 4)
    # at the end of each 2-hour slot both windows hold the same six readings
    ends = np.arange(11, 48, 12)
    np.testing.assert_allclose(a[0, ends], b[0, ends])
    assert np.isfinite(a).all() and np.isfinite(b[0, ends]).all()


def test_a_gap_neither_lowers_nor_raises_the_ratio_and_too_little_data_is_nan() -> None:
    act = np.full((1, N), 60.0)
    hod = np.full((1, N), 40.0)
    act[0, J0 - 30:J0] = np.nan  # a gap inside the 12 h window
    r = ratio_over_baseline(act, hod, J0, J0 + 1)
    assert r[0, 0] == 1.5
    cov = relative_activity_features(act, hod, J0, J0 + 1)["activity_ratio_hod_12h_coverage"]
    assert cov[0, 0] == (WINDOW_12H - 30) / WINDOW_12H  # the gap is what the heat rule's coverage sees
    empty = np.full((1, N), np.nan)
    empty[0, J0] = 60.0  # one cell with a reading: below MIN_CELLS
    assert np.isnan(ratio_over_baseline(empty, hod, J0, J0 + 1)[0, 0])


def test_persistence_needs_four_hours_above_the_baseline() -> None:
    hod = np.full((1, N), 10.0)
    short = np.full((1, N), 10.0)
    short[0, J0 - 6:J0 + 1] = 200.0  # one hour of very high activity
    long = np.full((1, N), 10.0)
    long[0, J0 - 60:J0 + 1] = 20.0  # ten hours at twice the baseline
    fs = relative_activity_features(short, hod, J0, J0 + 1)
    fl = relative_activity_features(long, hod, J0, J0 + 1)
    assert fs["activity_ratio_hod_12h"][0, 0] > 2.0  # the 12 h ratio sees the burst ...
    assert fs["activity_ratio_hod_12h_min_4h"][0, 0] == 1.0  # ... the 4 h minimum does not
    assert fl["activity_ratio_hod_12h_min_4h"][0, 0] > 1.5


def test_ratio_and_cells_equals_the_per_window_reduction() -> None:
    """The 2-D masking with window sums over views gives, bit for bit, what masking every
    (row, target, cell) window copy and reducing it gives (the earlier implementation)."""
    from smx_assets.domain.features.relative_activity import ratio_and_cells
    from smx_assets.domain.features.windows import window_view

    rng = np.random.default_rng(11)
    for n_rows, n_cols, j0 in ((500, 157, 133), (40, 300, 100), (3, 96, 71)):
        act = np.round(rng.gamma(2.0, 5.0, (n_rows, n_cols)), 1)
        act[rng.random(act.shape) < 0.25] = np.nan
        act[0, :] = np.nan  # no activity at all: NaN ratio, no cells
        act[1, rng.random(n_cols) < 0.97] = np.nan  # a cell or two a window: below MIN_CELLS
        hod = np.round(rng.gamma(2.0, 5.0, (n_rows, n_cols)), 3)
        hod[rng.random(hod.shape) < 0.1] = np.nan
        hod[rng.random(hod.shape) < 0.05] = 0.0
        a, h = window_view(act, j0, n_cols, WINDOW_12H), window_view(hod, j0, n_cols, WINDOW_12H)
        valid = ~np.isnan(a) & ~np.isnan(h) & (h > 0)
        want_n = valid.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            want = np.where(valid, a, 0.0).sum(axis=2) / np.where(valid, h, 0.0).sum(axis=2)
        want[(want_n < 3) | ~(np.where(valid, h, 0.0).sum(axis=2) > 0)] = np.nan
        got, got_n = ratio_and_cells(act, hod, j0, n_cols)
        assert np.array_equal(got_n, want_n) and np.array_equal(got, want, equal_nan=True)
        assert np.isnan(got).any() and not np.isnan(got).all()
