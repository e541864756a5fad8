"""Drinking drops: detect them and remove them from the temperature signal.

A drink of cold water drops the reticulum temperature by 2–8 °C within one reading and it
recovers exponentially over 1–2 h. Left in, these drops dominate every temperature mean and
would hide the 0.3–1 °C signals heat, calving and fever produce.

Rule (trailing only, so it is identical in training and serving): a bucket is "drinking" when
its temperature is more than ``DROP_C`` below a robust reference level of the previous
``CONTEXT`` buckets (the ~90th percentile of valid values, i.e. the undisturbed level even
when several drinks fall in the context), or below ``ABSOLUTE_C`` (a reticulum never reads that
low from physiology). Two hours of context cover one recovery (tau 20–35 min: a 2.3 °C drop is
within 0.3 °C after an hour), and the daily rhythm (about 0.15 °C/h at its steepest) falls
~0.25 °C in that time, below the 0.5 °C margin even with 0.05 °C noise; a three-hour context flagged the steepest
stretches of the rhythm as drinking.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CONTEXT = 12  # buckets (2 h) of history the reference level looks at
DROP_C = 0.5  # °C below the reference that counts as a drinking drop or its recovery tail
ABSOLUTE_C = 37.0  # °C: below this the reticulum is cooled by water, whatever the context
REF_QUANTILE = 0.9


def reference_level(temp: np.ndarray, context: int = CONTEXT) -> np.ndarray:
    """Per cell ``j``: the ~90th-percentile of valid temperatures in ``[j-context, j)`` (NaN if none).

    The percentile is the value of rank ``n - 1 - floor(n (1 - q))`` among the window's ``n``
    valid values: for 12 cells and q = 0.9 the largest (n <= 10) or the second largest (n 11-12).
    So it is picked, not interpolated, by a running top-2 over the ``context`` shifted columns
    (no sort; :func:`_reference_level_sorted` sorts each window and picks the same element).
    """
    ks = _ranks_from_top(context)
    if ks.max() > 1:  # a quantile deeper than the top two: sort the windows
        return _reference_level_sorted(temp, context)
    n_a, n_t = temp.shape
    padded = np.concatenate([np.full((n_a, context), np.nan), temp], axis=1)
    missing = np.isnan(padded)
    filled = np.where(missing, -np.inf, padded)  # -inf ranks below every valid value
    top1 = np.full((n_a, n_t), -np.inf)
    top2 = np.full((n_a, n_t), -np.inf)
    n_valid = np.zeros((n_a, n_t), dtype=np.int64)
    for k in range(context):
        x = filled[:, k:k + n_t]
        np.maximum(top2, np.minimum(top1, x), out=top2)
        np.maximum(top1, x, out=top1)
        n_valid += ~missing[:, k:k + n_t]
    ref = np.where(ks[n_valid] == 1, top2, top1)
    ref[n_valid == 0] = np.nan
    return ref


def _ranks_from_top(context: int) -> np.ndarray:
    """For n = 0..context valid values: how many values above the reference (0: the largest)."""
    n = np.arange(context + 1)
    rank = np.clip(n - 1 - np.floor(n * (1.0 - REF_QUANTILE)).astype(np.int64), 0, context - 1)
    return np.maximum(n - 1 - rank, 0)


def _reference_level_sorted(temp: np.ndarray, context: int = CONTEXT) -> np.ndarray:
    """:func:`reference_level` by a sort on a sliding-window view (NaNs sort last)."""
    n_a, n_t = temp.shape
    padded = np.concatenate([np.full((n_a, context), np.nan), temp], axis=1)
    windows = sliding_window_view(padded, context, axis=1)[:, :n_t, :]
    srt = np.sort(windows, axis=2)
    n_valid = np.sum(~np.isnan(windows), axis=2)
    rank = n_valid - 1 - np.floor(n_valid * (1.0 - REF_QUANTILE)).astype(np.int64)
    rank = np.clip(rank, 0, context - 1)
    ref = np.take_along_axis(srt, rank[:, :, None], axis=2)[:, :, 0]
    ref[n_valid == 0] = np.nan
    return ref


def detect_drinking(temp: np.ndarray, context: int = CONTEXT) -> np.ndarray:
    """Drinking flag per cell: 1.0 drinking, 0.0 not, NaN where the temperature itself is missing."""
    ref = reference_level(temp, context)
    with np.errstate(invalid="ignore"):
        drop = (temp < ABSOLUTE_C) | (~np.isnan(ref) & (temp < ref - DROP_C))
    flag = drop.astype("float64")
    flag[np.isnan(temp)] = np.nan
    return flag


def drinking_onsets(flag: np.ndarray) -> np.ndarray:
    """1.0 where a drinking bout starts (drinking now, not drinking or unknown in the previous bucket)."""
    prev = np.concatenate([np.full((flag.shape[0], 1), np.nan), flag[:, :-1]], axis=1)
    return ((flag == 1.0) & (prev != 1.0)).astype("float64")


def remove_drinking(temp: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Temperature with drinking-affected buckets set to NaN (not interpolated: no invented data)."""
    clean = temp.copy()
    clean[flag == 1.0] = np.nan
    return clean
