"""Activity relative to the cow's own recent activity: the heat signal that transfers between sensors.

A neck collar counts movements per 2 hours, a bolus reports an activity index per 10 minutes:
absolute levels do not transfer, ratios to the cow's own baseline do. The collar vendor's heat
index (SCR ``Activity Change``) is such a ratio. Measured on the first two real weekly exports
(``bench/evaluate_real.py``; the third week was not used), that index is explained best (Spearman
0.94, Pearson 0.93) by the activity of the trailing ~10-12 hours over the cow's same-hour-of-day
mean of the previous 7-10 days; single 2-hour slots (0.52), whole-day baselines (0.40) and
z-scores over the cow's variability (0.80-0.86 at detection) explain it worse. Hence:

* ``activity_ratio_hod_12h``: activity summed over the trailing 12 h divided by the cow's
  hour-of-day baseline (the stored 10-day baseline) summed over the *same cells that have a
  reading*, so a gap (9-19 % of real 2-hour slots are empty) neither lowers nor raises the ratio.
  NaN when fewer than ``MIN_CELLS`` cells have a reading and a baseline (three 2-hour readings
  when each fills one bucket; a bolus has up to 72).
* ``activity_ratio_hod_12h_min_4h``: the lowest value of that ratio over the trailing 4 h: a
  heat raises activity for hours, a single busy slot (regrouping, a late milking) does not.
* ``activity_ratio_hod_12h_coverage``: the share of the 12 h window's 10-minute cells that have a
  reading and a baseline. The heat rule trusts the ratio only when at least 5/6 of the window is
  covered (5 of its 6 two-hour collar slots): a ratio over a window with gaps rests on too few
  readings, and the collar vendor's own index is empty then (chosen on weeks 1-2 of the real
  exports by the protocol in ``bench/heat_protocol.md``). Readings are spread over the buckets
  their interval covers before they reach this grid (``buckets.spread_intervals``), so the share
  is the share of *time* covered, for a 2-hour collar as for a 10-minute bolus.

The functions work on the dense (animal x 10-minute bucket) grid of ``pipeline``: a 2-hour reading
either fills its 12 buckets or one of them, and the ratio is the same either way, because
numerator and denominator cover the same cells.
"""

from __future__ import annotations

import numpy as np

from smx_assets.domain.features.windows import trailing_min, window_view

WINDOW_12H = 72  # buckets
PERSIST_4H = 24  # buckets
MIN_CELLS = 3  # cells of the 12 h window with a reading and a baseline

FEATURE_DOC: dict[str, str] = {
    "activity_ratio_hod_12h": "activity over the trailing 12 h / the cow's 10-day hour-of-day baseline "
                              "over the same cells with a reading (the collar vendor's kind of index)",
    "activity_ratio_hod_12h_min_4h": "lowest activity_ratio_hod_12h over the trailing 4 h (a heat lasts hours)",
    "activity_ratio_hod_12h_coverage": "share of the trailing 12 h (10-minute cells) with a reading and a baseline",
}


def ratio_over_baseline(act: np.ndarray, hod: np.ndarray, j0: int, j1: int, w: int = WINDOW_12H,
                        min_cells: int = MIN_CELLS) -> np.ndarray:
    """sum(act) / sum(hod) over the trailing ``w`` cells of each target in ``[j0, j1)``, both
    over the cells where activity and baseline are present; NaN below ``min_cells`` such cells.

    ``act`` and ``hod`` are grids of the same shape (the baseline laid out on the grid's hours).
    """
    return ratio_and_cells(act, hod, j0, j1, w, min_cells)[0]


def ratio_and_cells(act: np.ndarray, hod: np.ndarray, j0: int, j1: int, w: int = WINDOW_12H,
                    min_cells: int = MIN_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ratio_over_baseline` and the number of cells it rests on (reading and baseline present)."""
    # Whether a cell counts depends on the cell only: mask the 2-D grid once, then sum windows
    # of views (no (rows, targets, w) copies; the sums add the same values in the same order).
    lo = j0 - w + 1
    a, h = act[:, max(lo, 0):j1], hod[:, max(lo, 0):j1]
    valid = ~np.isnan(a) & ~np.isnan(h) & (h > 0)
    j0_, j1_ = j0 - max(lo, 0), j1 - max(lo, 0)
    n = window_view(valid, j0_, j1_, w).sum(axis=2)
    num = window_view(np.where(valid, a, 0.0), j0_, j1_, w).sum(axis=2)
    den = window_view(np.where(valid, h, 0.0), j0_, j1_, w).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[(n < min_cells) | (den <= 0)] = np.nan
    return out, n


def relative_activity_features(act: np.ndarray, hod: np.ndarray, j0: int, j1: int) -> dict[str, np.ndarray]:
    """The three features for the targets ``[j0, j1)``; needs ``j0 >= WINDOW_12H + PERSIST_4H - 2``."""
    lo = j0 - PERSIST_4H + 1
    ratio, cells = ratio_and_cells(act, hod, lo, j1)  # targets and the 4 h before them
    padded = np.concatenate([np.full((ratio.shape[0], lo), np.nan), ratio], axis=1)
    return {
        "activity_ratio_hod_12h": ratio[:, PERSIST_4H - 1:],
        # NaN cells (a gap, no baseline) are skipped: the minimum of the ratios that are known
        "activity_ratio_hod_12h_min_4h": trailing_min(padded, j0, j1, PERSIST_4H),
        "activity_ratio_hod_12h_coverage": cells[:, PERSIST_4H - 1:].astype("float64") / WINDOW_12H,
    }
