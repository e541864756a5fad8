"""Candidate heat detectors on real collar data, chosen on weeks 1-2 only (issue 11).

The protocol (candidate families, grids and the selection criterion) is fixed in
``bench/heat_protocol.md``, committed before any candidate was computed on week 3. This script
imports only the February 4 and 11 2019 weekly files (``sweep_real_heat.features_weeks_1_2``:
the same import and feature code as ``smx import``/``evaluate_real.py``), rebuilds each
candidate's signal on the dense 10-minute grid exactly as the feature pipeline does (for the
targets of day D every cell of the trailing window uses day D's stored hour-of-day baseline;
the reproduction of the production ``activity_ratio_hod_12h_min_4h`` is asserted), scores it
with the heat use case's alert policy and prints, per family, both leave-one-week-out folds and
the selection. Nothing here reads ``Activity Change`` except ``reference_episodes`` (the key).

Run: ``python bench/sweep_heat_candidates.py [--data DIR]`` (about a minute).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from smx_assets.domain.features.relative_activity import ratio_and_cells
from smx_assets.domain.use_cases._common import logistic
from smx_assets.domain.use_cases.alerting import apply_alert_policy
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets.domain.use_cases.reference_eval import agreement

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_real import default_data  # noqa: E402
from sweep_real_heat import features_weeks_1_2  # noqa: E402

FOLDS = {"week 1": ("2019-01-31", "2019-02-04"), "week 2": ("2019-02-04", "2019-02-11"),
         "weeks 1-2": ("2019-01-31", "2019-02-11")}
CUTS = tuple(round(1.2 + 0.05 * i, 2) for i in range(9))  # 1.20 .. 1.60
HOLD = 24  # 4 h of 10-minute buckets
W8, W10, W12 = 48, 60, 72
SCALE = 0.05  # the heat rule's logistic scale


class Grid:
    """The features of weeks 1-2 as (animal x 10-minute bucket) arrays, as the pipeline sees them."""

    def __init__(self, f: pd.DataFrame) -> None:
        self.f = f
        self.ids = np.sort(f["animal_id"].unique())
        self.t = pd.date_range(f["bucket_start"].min(), f["bucket_start"].max(), freq="10min")
        self.ai = np.searchsorted(self.ids, f["animal_id"].to_numpy())
        self.ti = self.t.get_indexer(f["bucket_start"])
        self.act = self.pivot("activity")
        self.days = pd.date_range(self.t[0].normalize(), self.t[-1], freq="D")
        self.hod = np.full((len(self.ids), len(self.days), 24), np.nan)
        d = f.assign(di=self.days.get_indexer(f["bucket_start"].dt.floor("D")), h=f["bucket_start"].dt.hour,
                     ai=self.ai).dropna(subset=["activity_hod_baseline"]).drop_duplicates(["ai", "di", "h"])
        self.hod[d["ai"].to_numpy(), d["di"].to_numpy(), d["h"].to_numpy()] = d["activity_hod_baseline"].to_numpy()
        self.hours = self.t.hour.to_numpy()

    def pivot(self, col: str) -> np.ndarray:
        g = np.full((len(self.ids), len(self.t)), np.nan)
        g[self.ai, self.ti] = self.f[col].to_numpy(dtype="float64")
        return g

    def rows(self, g: np.ndarray) -> np.ndarray:
        return g[self.ai, self.ti]

    def signals(self, w: int, post: Callable[[np.ndarray], np.ndarray] | None = None,
                min_cells: int = 3) -> dict[str, np.ndarray]:
        """Ratio over ``w`` buckets, its 4 h trailing minimum and 12 h trailing maximum, per row of ``f``."""
        out = {k: np.full(self.act.shape, np.nan) for k in ("ratio", "hold", "peak", "cells")}
        back = w + 72 + HOLD
        for di, d in enumerate(self.days):
            j0, j1 = self.t.searchsorted(d), self.t.searchsorted(d + pd.Timedelta(days=1))
            lo = max(0, j0 - back)
            r, n = _ratio(self.act[:, lo:j1], self.hod[:, di, :][:, self.hours[lo:j1]], w, min_cells)
            if post is not None:
                r = post(r)
            k = j0 - lo
            out["ratio"][:, j0:j1] = r[:, k:]
            out["cells"][:, j0:j1] = n[:, k:]
            out["hold"][:, j0:j1] = _trailing(r, HOLD, np.nanmin)[:, k:]
            out["peak"][:, j0:j1] = _trailing(r, 72, np.nanmax)[:, k:]
        return {k: self.rows(v) for k, v in out.items()}


def _ratio(act: np.ndarray, hod: np.ndarray, w: int, min_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """The production ratio (``relative_activity.ratio_and_cells``) at every column of the slice;
    ``w - 1`` empty cells in front give its first columns a partial window."""
    pad = np.full((act.shape[0], w - 1), np.nan)
    a, h = np.concatenate([pad, act], 1), np.concatenate([pad, hod], 1)
    r, n = ratio_and_cells(a, h, w - 1, a.shape[1], w, min_cells)
    return r, n.astype("float64")


def _trailing(x: np.ndarray, w: int, fn: Callable) -> np.ndarray:  # type: ignore[type-arg]
    p = np.concatenate([np.full((x.shape[0], w - 1), np.nan), x], 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(sliding_window_view(p, w, axis=1), axis=2)


def herd_normalised(r: np.ndarray) -> np.ndarray:
    """Each bucket's ratios over the herd's median ratio in that bucket (at least 10 cows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(r, axis=0)
    med[np.sum(~np.isnan(r), axis=0) < 10] = np.nan
    return r / med


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_data())
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smx-cand-") as tmp:
        f, cow_day, episodes = features_weeks_1_2(args.data, Path(tmp))
    heat = use_case("heat")
    numbers = f[["animal_id", "cow_number"]].drop_duplicates()
    g = Grid(f)
    s12, s10, s8 = g.signals(W12), g.signals(W10), g.signals(W8)
    prod = f["activity_ratio_hod_12h_min_4h"].to_numpy()
    assert np.array_equal(np.isnan(prod), np.isnan(s12["hold"])) and np.nanmax(np.abs(prod - s12["hold"])) < 1e-9, \
        "the sweep's 12 h signal must be the production feature"
    herd = g.signals(W12, post=herd_normalised)
    dim = f["days_in_milk"].to_numpy()
    ts = f["bucket_start"]

    def measure(score: np.ndarray) -> dict[str, object]:
        sc = f[["animal_id", "bucket_start"]].assign(score=score)
        alerts = apply_alert_policy(sc, heat.alert_policy).merge(numbers, on="animal_id")
        alerts = alerts.rename(columns={"bucket_start": "alert_time"})
        out: dict[str, object] = {}
        for fold, (a, b) in FOLDS.items():
            t0, t1 = pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")
            n = float(((cow_day["day"] >= t0) & (cow_day["day"] < t1)).sum())
            out[fold] = agreement(alerts, episodes, t0, t1, n)
        return out

    def rule(sig: np.ndarray, cut: float, keep: np.ndarray | None = None) -> np.ndarray:
        s = logistic(sig, cut, SCALE)
        return s if keep is None else np.where(keep, s, 0.0)

    families: dict[str, list[tuple[str, Callable[[], np.ndarray]]]] = {
        "A 12 h, hold 4 h (current)": [(f"{c}", lambda c=c: rule(s12["hold"], c)) for c in CUTS],
        "B8 8 h, hold 4 h": [(f"{c}", lambda c=c: rule(s8["hold"], c)) for c in CUTS],
        "B10 10 h, hold 4 h": [(f"{c}", lambda c=c: rule(s10["hold"], c)) for c in CUTS],
        "C 12 h + peak": [(f"{c} peak {pk}", lambda c=c, pk=pk: rule(s12["hold"], c, s12["peak"] >= pk))
                          for c, pk in itertools.product(CUTS[:7], (1.5, 1.6, 1.7, 1.8))],
        "D herd-normalised": [(f"{c}", lambda c=c: rule(herd["hold"], c)) for c in CUTS],
        "E no alert < 20 DIM": [(f"{c}", lambda c=c: rule(s12["hold"], c, ~(dim < 20))) for c in CUTS],
        "F 5 of 6 slots": [(f"{c}", lambda c=c: rule(s12["hold"], c, s12["cells"] >= 60)) for c in CUTS],
    }
    results: dict[str, list[tuple[str, dict[str, object]]]] = {
        name: [(label, measure(fn())) for label, fn in grid] for name, grid in families.items()}
    ml = ml_family(f, episodes, ts, s8, s10, s12, measure)
    results["G logistic regression"] = [r for v in ml.values() for r in v]

    rows, summary = [], {}
    for name, res in results.items():
        for label, m in res:
            rows.append({"family": name, "params": label,
                         **{f"{k} {x}": getattr(v, a) for k, v in m.items() if k != "weeks 1-2"
                            for x, a in (("sens", "sensitivity"), ("prec", "precision"), ("F1", "f1"))},
                         "w1-2 F1": m["weeks 1-2"].f1})  # type: ignore[attr-defined]
        held, prec, notes = [], [], []
        for tune, test in (("week 1", "week 2"), ("week 2", "week 1")):
            label, m = best(ml[tune] if name.startswith("G") else res, tune)
            t = m[test]
            held.append(t.f1)  # type: ignore[attr-defined]
            prec.append(t.precision)  # type: ignore[attr-defined]
            notes.append(f"tuned on {tune} -> {label}: {test} {describe(t)}")
        final_label, final = best(ml["weeks 1-2"] if name.startswith("G") else res, "weeks 1-2")
        summary[name] = (float(np.mean(held)), float(np.mean(prec)), notes, final_label, final["weeks 1-2"])
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))
    print()
    for name, (f1, pr, notes, label, m) in summary.items():
        print(f"{name}: mean held-out F1 {f1:.3f}, precision {pr:.3f}")
        for n in notes:
            print(f"    {n}")
        print(f"    final on weeks 1-2: {label}: {describe(m)}")
    base = summary["A 12 h, hold 4 h (current)"][0]
    ranked = sorted(summary, key=lambda k: (round(summary[k][0] / 0.005), summary[k][1]), reverse=True)
    top = ranked[0]
    chosen = top if summary[top][0] >= base + 0.005 else "A 12 h, hold 4 h (current)"
    print(f"\nselection (bench/heat_protocol.md): best family {top} ({summary[top][0]:.3f}) vs current "
          f"{base:.3f} -> chosen: {chosen}, {summary[chosen][3]}")
    return 0


def best(res: list[tuple[str, dict[str, object]]], fold: str) -> tuple[str, dict[str, object]]:
    """Highest F1 on ``fold``, ties on precision, then grid order."""
    def key(i: int) -> tuple[float, float, int]:
        m = res[i][1][fold]
        return (np.nan_to_num(m.f1, nan=-1), np.nan_to_num(m.precision, nan=-1), -i)  # type: ignore[attr-defined]
    return res[max(range(len(res)), key=key)]


def describe(m) -> str:  # type: ignore[no-untyped-def]
    return (f"sensitivity {m.sensitivity:.3f} ({m.detected}/{m.episodes}), precision {m.precision:.3f} "
            f"({m.true_alerts}/{m.alerts}), F1 {m.f1:.3f}")


def ml_family(f, episodes, ts, s8, s10, s12, measure):  # type: ignore[no-untyped-def]
    """G: logistic regression on relative-activity features; one model per training period.

    Returns {training period: [(label, metrics)]}. The fold "tune on week 1" only looks at the
    models trained on week 1 (fit and probability cut-off on week 1) and scores the chosen one
    on week 2, never seen by it; the other fold the other way round; the final choice of this
    family is a model trained on weeks 1-2 together.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.column_stack([s8["ratio"], s10["ratio"], s12["ratio"], s12["hold"], s12["peak"], s8["hold"]])
    ok = ~np.isnan(x).any(axis=1)
    y = np.zeros(len(f), dtype=int)
    cows = f["cow_number"].to_numpy()
    t = ts.dt.tz_convert(None).to_numpy()
    for e in episodes[~episodes["calving"]].itertuples():
        y[(cows == e.cow_number) & (t >= e.start.tz_convert(None).to_datetime64())
          & (t < (e.end + pd.Timedelta(hours=2)).tz_convert(None).to_datetime64())] = 1
    out: dict[str, list[tuple[str, dict[str, object]]]] = {}
    for train in ("week 1", "week 2", "weeks 1-2"):
        a, b = (pd.Timestamp(v, tz="UTC") for v in FOLDS[train])
        sel = ok & (ts >= a).to_numpy() & (ts < b).to_numpy()
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))
        model.fit(x[sel], y[sel])
        prob = np.full(len(f), np.nan)
        prob[ok] = model.predict_proba(x[ok])[:, 1]
        out[train] = [(f"trained on {train}, p {cut}", measure(logistic(prob, cut, SCALE)))
                      for cut in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    return out


if __name__ == "__main__":
    sys.exit(main())
