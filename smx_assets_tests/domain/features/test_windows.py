import numpy as np
import pytest

from smx_assets.domain.features import windows as w


def test_trailing_stats_and_missing() -> None:
    v = np.array([[1.0, 2.0, np.nan, 4.0, 5.0], [np.nan] * 5])
    # targets 2..4, window 3: [1,2,nan], [2,nan,4], [nan,4,5]
    np.testing.assert_allclose(w.trailing_mean(v, 2, 5, 3)[0], [1.5, 3.0, 4.5])
    np.testing.assert_array_equal(w.trailing_count(v, 2, 5, 3)[0], [2, 2, 2])
    np.testing.assert_array_equal(w.trailing_max(v, 2, 5, 3)[0], [2, 4, 5])
    np.testing.assert_array_equal(w.trailing_min(v, 2, 5, 3)[0], [1, 2, 4])
    np.testing.assert_allclose(w.trailing_std(v, 2, 5, 3)[0], [0.5, 1.0, 0.5])
    # an all-missing window is NaN (unknown), never 0
    for f in (w.trailing_mean, w.trailing_max, w.trailing_min, w.trailing_std):
        assert np.isnan(f(v, 2, 5, 3)[1]).all()
    np.testing.assert_array_equal(w.trailing_count(v, 2, 5, 3)[1], [0, 0, 0])


def test_window_includes_target_and_never_the_future() -> None:
    v = np.arange(10, dtype=float)[None, :]
    before = w.trailing_mean(v, 5, 6, 3)
    v2 = v.copy()
    v2[0, 6:] = 1e6
    assert w.trailing_mean(v2, 5, 6, 3)[0, 0] == before[0, 0] == pytest.approx((3 + 4 + 5) / 3)


def test_window_sizes_and_insufficient_history() -> None:
    assert w.WINDOWS == {"2h": 12, "6h": 36, "24h": 144}
    with pytest.raises(ValueError):
        w.trailing_mean(np.zeros((1, 10)), 1, 10, 3)
