"""Trailing windows (2 h, 6 h, 24 h) over the dense grid.

Every statistic for target bucket ``j`` uses exactly the cells ``[j-w+1, j]`` — the bucket
itself and the ``w-1`` before it, never a later one — and is computed by reducing a
sliding-window view, so the same cells give the same numbers no matter where the grid starts
(training grids start a day earlier than serving grids). Cumulative-sum tricks would be faster
but their rounding depends on the grid's start, which would break exact parity.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

WINDOWS: dict[str, int] = {"2h": 12, "6h": 36, "24h": 144}  # name -> buckets
MAX_WINDOW = max(WINDOWS.values())


def window_view(values: np.ndarray, j0: int, j1: int, w: int) -> np.ndarray:
    """View of shape ``(n_rows, j1-j0, w)``: the trailing ``w`` cells of each target column in ``[j0, j1)``."""
    if j0 - w + 1 < 0:
        raise ValueError(f"grid has {j0} cells of history before the first target; window needs {w - 1}")
    return sliding_window_view(values[:, j0 - w + 1 : j1], w, axis=1)


def trailing_count(values: np.ndarray, j0: int, j1: int, w: int) -> np.ndarray:
    """Number of non-missing cells in each trailing window."""
    return np.sum(~np.isnan(window_view(values, j0, j1, w)), axis=2).astype("float64")


def trailing_sum(values: np.ndarray, j0: int, j1: int, w: int) -> np.ndarray:
    """Sum of non-missing cells (0 when all are missing: use with ``trailing_count``)."""
    v = window_view(values, j0, j1, w)
    return np.where(np.isnan(v), 0.0, v).sum(axis=2)


def trailing_mean(values: np.ndarray, j0: int, j1: int, w: int) -> np.ndarray:
    """Mean of non-missing cells; NaN when the whole window is missing (never 0)."""
    v = window_view(values, j0, j1, w)
    valid = ~np.isnan(v)
    n = valid.sum(axis=2)
    s = np.where(valid, v, 0.0).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / n
    out[n == 0] = np.nan
    return out


def trailing_std(values: np.ndarray, j0: int, j1: int, w: int, min_count: int = 2) -> np.ndarray:
    """Population standard deviation (two-pass, numerically stable); NaN below ``min_count`` values."""
    v = window_view(values, j0, j1, w)
    valid = ~np.isnan(v)
    n = valid.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, v, 0.0).sum(axis=2) / n
        dev = np.where(valid, v - mean[:, :, None], 0.0)
        out = np.sqrt((dev * dev).sum(axis=2) / n)
    out[n < min_count] = np.nan
    return out


def trailing_max(values: np.ndarray, j0: int, j1: int, w: int) -> np.ndarray:
    """Maximum of non-missing cells; NaN when the whole window is missing."""
    v = window_view(values, j0, j1, w)
    out = np.where(np.isnan(v), -np.inf, v).max(axis=2)
    out[np.isinf(out)] = np.nan
    return out


def trailing_min(values: np.ndarray, j0: int, j1: int, w: int) -> np.ndarray:
    """Minimum of non-missing cells; NaN when the whole window is missing."""
    return -trailing_max(-values, j0, j1, w)
