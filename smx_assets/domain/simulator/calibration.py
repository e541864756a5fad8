"""How noisy is activity? The statistics that compare the simulator with real collar exports.

Issue 11: the simulator's activity was far smoother than real collar data (a rule tuned on it
looked 3-5x more precise than on real farms), so simulated figures flattered every model. These
functions put real exports and simulated herds on one footing and measure them the same way:

1. Both become a dense (cow x 2-hour slot) grid of activity with NaN for a missing slot
   (:func:`real_collar_grid` from SCR Heatime exports read by the importer's own reader;
   :func:`simulated_collar_grid` sums a simulated bolus's 10-minute readings into the collar's
   2-hour slots, the slot missing when fewer than half of its readings arrived).
2. Slots near a heat (and near a calving or a fever, in the simulator) are masked: the
   statistics describe activity *outside* events, the noise a heat detector has to see through.
3. :func:`activity_statistics` measures, per grid:

   * the distribution of the ratio of each 2-hour value to the cow's own baseline (the median of
     her values at that hour of day over the window): median, 90th, 99th and 99.9th percentile;
   * the daily pattern: per hour of day the cow's mean over her overall mean (median over cows);
   * the lag-1 autocorrelation of log ratio between consecutive 2-hour slots;
   * the same ratio over 12 hours (six slots summed over their six baselines), the scale the
     heat rule works on: 99th and 99.9th percentile;
   * the share of missing slots inside each cow's span (first to last reading) and the length
     of the gaps (runs of missing slots).

The real reference is weeks 1-2 of ``bovheat/weekly`` (the third week is held out of every
tuning, this one included). ``smx_assets_tests/domain/simulator/test_noise_vs_real.py`` holds
the tolerances. No Dagster here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SLOT_S = 7200
SLOTS_PER_DAY_2H = 12
MIN_SHARE = 0.5  # a simulated 2-hour slot needs half of its 12 readings
EVENT_MARGIN = pd.Timedelta(hours=12)  # masked before and after a heat (the detection window)
RATIO_FLOOR = 0.05  # log of a zero count is undefined: ratios are floored for the autocorrelation
SLOTS_12H = 6
QUANTILES = {"median": 0.5, "p90": 0.9, "p99": 0.99, "p99.9": 0.999}


@dataclass
class CollarGrid:
    """Activity per cow and 2-hour slot; ``mask`` marks slots near an event (left out)."""

    start: pd.Timestamp
    activity: np.ndarray  # (n_cows, n_slots), NaN = missing
    mask: np.ndarray  # (n_cows, n_slots) bool

    @property
    def hour_slot(self) -> np.ndarray:
        """Hour-of-day slot (0..11) of each column."""
        first = int((self.start - self.start.normalize()) / pd.Timedelta(seconds=SLOT_S))
        return (first + np.arange(self.activity.shape[1])) % SLOTS_PER_DAY_2H


@dataclass
class ActivityStats:
    """What :func:`activity_statistics` measures (see the module docstring)."""

    quantiles: dict[str, float]
    profile: np.ndarray  # (12,) hour-of-day mean / overall mean, median over cows; slot 0 = 00-02 h
    lag1: float
    quantiles_12h: dict[str, float]  # p99, p99.9 of the 12-hour ratio
    gap_share: float
    gap_mean_slots: float  # mean length of a gap (run of missing 2-hour slots)
    gap_single_share: float  # share of gaps that are one slot long
    n_cows: int
    n_values: int

    def lines(self) -> list[str]:
        q = ", ".join(f"{k} {v:.3f}" for k, v in self.quantiles.items())
        prof = " ".join(f"{v:.2f}" for v in self.profile)
        return [f"ratio to own baseline: {q} ({self.n_values:,} values, {self.n_cows} cows)",
                f"daily pattern (00-02 h .. 22-24 h): {prof}",
                f"lag-1 autocorrelation of log ratio: {self.lag1:.3f}",
                "12-hour ratio: " + ", ".join(f"{k} {v:.3f}" for k, v in self.quantiles_12h.items()),
                f"gaps: {self.gap_share:.3f} of slots, mean length {self.gap_mean_slots:.2f} slots, "
                f"{self.gap_single_share:.2f} of gaps one slot long"]


def _grid_from_long(frame: pd.DataFrame, key: str, start: pd.Timestamp, end: pd.Timestamp) -> tuple[list, np.ndarray]:
    """(key, ts, activity) rows on the 2-hour grid ``[start, end)``; cows without a value dropped."""
    n_slots = int((end - start) / pd.Timedelta(seconds=SLOT_S))
    f = frame[(frame["ts"] >= start) & (frame["ts"] < end) & frame["activity"].notna()]
    cows = sorted(f[key].unique())
    grid = np.full((len(cows), n_slots), np.nan)
    row = pd.Index(cows).get_indexer(f[key])
    col = ((f["ts"] - start) // pd.Timedelta(seconds=SLOT_S)).to_numpy(dtype=np.int64)
    grid[row, col] = f["activity"].to_numpy(dtype=np.float64)
    return cows, grid


def read_collar_exports(paths: Iterable[str | Path]) -> pd.DataFrame:
    """``cow_number, ts, activity`` of SCR Heatime exports, read by the importer's reader.

    Consecutive weekly exports overlap at midnight: the copy with a value wins. Only
    ``Raw Activity Data`` is read (the importer never reads ``Activity Change``).
    """
    from smx_assets.domain.importers.formats import read_export

    frames = [read_export(p).rows[["cow_number", "ts", "activity"]] for p in paths]
    rows = pd.concat(frames, ignore_index=True).dropna(subset=["cow_number", "ts"])
    rows = (rows.assign(has=rows["activity"].notna()).sort_values(["cow_number", "ts", "has"])
            .drop_duplicates(["cow_number", "ts"], keep="last"))
    return rows[["cow_number", "ts", "activity"]].reset_index(drop=True)


def _event_mask(cows: Sequence[object], shape: tuple[int, int], events: pd.DataFrame,
                start: pd.Timestamp) -> np.ndarray:
    """Slots within ``EVENT_MARGIN`` of an event (``animal, start, end``), True where masked.

    Real and simulated grids are masked by the same rule, so the noise statistics compare
    like with like: an event's own activity never counts as noise on either side.
    """
    mask = np.zeros(shape, dtype=bool)
    index = {c: i for i, c in enumerate(cows)}
    slot = pd.Timedelta(seconds=SLOT_S)
    for e in events.itertuples():
        i = index.get(e.animal)
        if i is None:
            continue
        a = int(np.floor((e.start - EVENT_MARGIN - start) / slot))
        z = int(np.ceil((e.end + EVENT_MARGIN - start) / slot)) + 1
        mask[i, max(a, 0):max(z, 0)] = True
    return mask


def real_collar_grid(readings: pd.DataFrame, episodes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
                     ) -> CollarGrid:
    """The grid of real exports, slots within 12 h of a reference episode masked.

    ``episodes``: ``cow_number, start, end`` (``reference_eval.reference_episodes``: the
    vendor's heat index is used here only to leave heats out, never to describe the noise).
    """
    cows, grid = _grid_from_long(readings, "cow_number", start, end)
    mask = _event_mask(cows, grid.shape, episodes.rename(columns={"cow_number": "animal"}), start)
    return CollarGrid(start=start, activity=grid, mask=mask)


def simulated_collar_grid(bolus: pd.DataFrame, event_windows: pd.DataFrame, start: pd.Timestamp,
                          end: pd.Timestamp, reading_s: int = 600) -> CollarGrid:
    """A simulated bolus's readings summed into 2-hour slots, as a collar would report them.

    A slot's value is the mean of the readings that arrived times the readings a slot holds
    (exact duplicates counted once); fewer than ``MIN_SHARE`` of them: the slot is missing.
    ``event_windows``: ``animal_id, start, end`` of heats, calvings and fevers (masked +-12 h).
    """
    per_slot = SLOT_S // reading_s
    b = bolus[(bolus["ts"] >= start) & (bolus["ts"] < end)].drop_duplicates(["animal_id", "ts"])
    b = b.assign(slot=b["ts"].dt.floor(f"{SLOT_S}s"))
    agg = b.groupby(["animal_id", "slot"])["activity"].agg(["mean", "count"]).reset_index()
    agg["activity"] = np.where(agg["count"] >= MIN_SHARE * per_slot, agg["mean"] * per_slot, np.nan)
    cows, grid = _grid_from_long(agg.rename(columns={"slot": "ts"}), "animal_id", start, end)
    mask = _event_mask(cows, grid.shape, event_windows.rename(columns={"animal_id": "animal"}), start)
    return CollarGrid(start=start, activity=grid, mask=mask)


def simulated_event_windows(herd) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """``animal_id, start, end`` of every simulated heat, calving (-7 d .. +2 d) and fever."""
    aid = herd.params["animal_id"]
    parts = []
    to_ts = lambda m: pd.to_datetime(np.asarray(m, dtype=np.float64) * 60.0, unit="s", utc=True)  # noqa: E731
    h = herd.heats
    if not h.empty:
        parts.append(pd.DataFrame({"animal_id": aid[h["a"].to_numpy()], "start": to_ts(h["t_min"]),
                                   "end": to_ts(h["t_min"] + h["duration_h"] * 60.0)}))
    c = herd.calvings
    if not c.empty:
        parts.append(pd.DataFrame({"animal_id": aid[c["a"].to_numpy()], "start": to_ts(c["t_min"] - 7 * 1440.0),
                                   "end": to_ts(c["t_min"] + 2 * 1440.0)}))
    f = herd.fevers
    if not f.empty:
        parts.append(pd.DataFrame({"animal_id": aid[f["a"].to_numpy()], "start": to_ts(f["t_min"]),
                                   "end": to_ts(f["t_min"] + (f["ramp_h"] + f["plateau_h"] + 12.0) * 60.0)}))
    if not parts:
        return pd.DataFrame(columns=["animal_id", "start", "end"])
    return pd.concat(parts, ignore_index=True)


def _runs(missing: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in a 1-d bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))
    return edges[1::2] - edges[::2]


def activity_statistics(grid: CollarGrid) -> ActivityStats:
    """The statistics of the module docstring, for one grid."""
    with warnings.catch_warnings():  # cows with no value at some hour: NaN, left out on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        return _statistics(grid)


def _statistics(grid: CollarGrid) -> ActivityStats:
    act = grid.activity
    hod = grid.hour_slot
    clean = np.where(grid.mask, np.nan, act)
    base = np.full(act.shape, np.nan)
    for s in range(SLOTS_PER_DAY_2H):
        cols = hod == s
        if cols.any():
            base[:, cols] = np.nanmedian(clean[:, cols], axis=1)[:, None]
    with np.errstate(all="ignore"):
        ratio = clean / np.where(base > 0, base, np.nan)
    values = ratio[np.isfinite(ratio)]
    quantiles = {k: float(np.quantile(values, q)) for k, q in QUANTILES.items()}

    with np.errstate(all="ignore"):
        overall = np.nanmean(clean, axis=1, keepdims=True)
        per_hour = np.stack([np.nanmean(clean[:, hod == s], axis=1) for s in range(SLOTS_PER_DAY_2H)], axis=1)
        profile = np.nanmedian(per_hour / overall, axis=0)

    logr = np.log(np.maximum(ratio, RATIO_FLOOR))
    x, y = logr[:, :-1].ravel(), logr[:, 1:].ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    lag1 = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else float("nan")

    have = np.isfinite(ratio)
    a = np.where(have, clean, 0.0)
    b = np.where(have, base, 0.0)
    ca = np.cumsum(np.pad(a, ((0, 0), (1, 0))), axis=1)
    cb = np.cumsum(np.pad(b, ((0, 0), (1, 0))), axis=1)
    n = np.cumsum(np.pad(have.astype(np.int64), ((0, 0), (1, 0))), axis=1)
    w = SLOTS_12H
    full = (n[:, w:] - n[:, :-w]) == w  # six slots with a value, none near an event
    r12 = ((ca[:, w:] - ca[:, :-w]) / np.where(full, cb[:, w:] - cb[:, :-w], np.nan))[full]
    quantiles_12h = {k: float(np.quantile(r12, QUANTILES[k])) for k in ("p99", "p99.9")} if len(r12) else {}

    runs, inside = [], 0
    for row in act:
        present = np.flatnonzero(np.isfinite(row))
        if len(present) < 2:
            continue
        span = np.isnan(row[present[0]:present[-1] + 1])
        inside += len(span)
        runs.append(_runs(span))
    all_runs = np.concatenate(runs) if runs else np.array([], dtype=np.int64)
    gap_share = float(all_runs.sum() / inside) if inside else float("nan")
    return ActivityStats(
        quantiles=quantiles, profile=profile, lag1=lag1, quantiles_12h=quantiles_12h, gap_share=gap_share,
        gap_mean_slots=float(all_runs.mean()) if len(all_runs) else 0.0,
        gap_single_share=float((all_runs == 1).mean()) if len(all_runs) else float("nan"),
        n_cows=int(np.isfinite(act).any(axis=1).sum()), n_values=int(len(values)))
