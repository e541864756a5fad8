import numpy as np

from smx_assets.domain.features import drinking


def _series(n: int = 60, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 39.0 + rng.normal(0, 0.05, n)


def test_drop_and_recovery_tail_removed() -> None:
    temp = _series()
    k = np.arange(12)
    temp[30:42] -= 3.0 * np.exp(-k * 10 / 25.0)  # 3 °C drop, tau 25 min
    flag = drinking.detect_drinking(temp[None, :])[0]
    assert flag[30] == 1.0 and flag[29] == 0.0
    tail = np.flatnonzero(flag[30:42] == 1.0)
    assert tail.max() >= 2  # the recovery tail is removed too, not only the first reading
    clean = drinking.remove_drinking(temp[None, :], flag[None, :])[0]
    assert np.nanmin(clean) > 38.5
    assert np.isnan(clean[30])  # removed, not interpolated or zeroed
    assert drinking.drinking_onsets(flag[None, :])[0].sum() == 1


def test_daily_rhythm_is_not_drinking() -> None:
    t = np.arange(288)
    temp = 39.0 + 0.5 * np.sin(2 * np.pi * t / 144) + np.random.default_rng(2).normal(0, 0.05, len(t))
    flag = drinking.detect_drinking(temp[None, :])[0]
    assert np.nansum(flag) == 0


def test_absolute_floor_without_context_and_missing_stays_missing() -> None:
    temp = np.array([[36.0, np.nan, 39.0]])
    flag = drinking.detect_drinking(temp)
    assert flag[0, 0] == 1.0 and np.isnan(flag[0, 1]) and flag[0, 2] == 0.0


def test_detection_is_trailing_only() -> None:
    temp = _series(80)
    base = drinking.detect_drinking(temp[None, :])[0]
    changed = temp.copy()
    changed[50:] = 30.0  # the future changes drastically
    after = drinking.detect_drinking(changed[None, :])[0]
    np.testing.assert_array_equal(base[:50], after[:50])


def test_reference_level_top_two_equals_the_sorted_windows() -> None:
    """The running top-2 picks the same element the sort of every window picks: gaps of every
    length, ties (temperatures are rounded to 0.1 °C) and contexts up to the 20 cells where the
    90th percentile is still one of the two largest values."""
    rng = np.random.default_rng(7)
    temp = np.round(39.0 + rng.normal(0, 0.4, (300, 200)), 1)
    temp[rng.random(temp.shape) < 0.3] = np.nan
    temp[:5, 50:90] = np.nan  # a long gap
    for context in (3, 10, 12, 20):
        assert drinking._ranks_from_top(context).max() == (1 if context >= 11 else 0)
        got = drinking.reference_level(temp, context)
        want = drinking._reference_level_sorted(temp, context)
        assert np.array_equal(got, want, equal_nan=True), context
        assert np.isnan(got).any() and not np.isnan(got).all()
