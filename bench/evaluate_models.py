"""Issue 4's acceptance benchmark: train on one simulated herd, evaluate on another seed.

1. Simulate a training herd (seed A) and a test herd (seed B) of ``--animals`` cows over
   ``--days`` days; compute features for every day after the baselines' warm-up (the same
   domain functions the Dagster assets call: ``daily_hourly_stats``/``baselines_from_stats``,
   ``compute_features``, ``attach_labels``). Frames are cached under ``--cache`` per
   (seed, animals, days, start), so iterating on models does not recompute features.
2. Train every use case with ``smx_assets.domain.use_cases.training.train_model`` (the function
   the ``<uc>_model`` assets call) on the training herd's farm-record labels.
3. Score the test herd with the ML model and the rule baseline, apply the use case's alert
   policy, and evaluate against the test herd's ``gt_events`` (silent heats excluded). This
   ground-truth evaluation exists only here: training and promotion never read ``gt_events``.
4. Report for the whole test herd and per housing type (a cow is ``pasture`` when her farm
   grazes in the window, ``barn`` otherwise); with ``--holdout-housing pasture`` the models are
   trained on the barn farms' cows only, so the pasture rows are a farm type held out of
   training. One set of settings for every farm: no per-farm threshold or feature.

Run: ``python bench/evaluate_models.py [--animals 300] [--days 60] [--train-seed 11] [--test-seed 23]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from smx_assets.domain.features import attach_labels, compute_features
from smx_assets.domain.features.baselines import CONTEXT as BASELINE_CONTEXT
from smx_assets.domain.features.baselines import N_DAYS, baselines_from_stats, daily_hourly_stats
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.features.profile import FarmRecords, records_from_tables
from smx_assets.domain.simulator.config import SimConfig
from smx_assets.domain.simulator.simulation import simulate
from smx_assets.domain.use_cases.alerting import apply_alert_policy
from smx_assets.domain.use_cases.base import UseCase
from smx_assets.domain.use_cases.catalog import all_use_cases
from smx_assets.domain.use_cases.evaluation import events_from_gt
from smx_assets.domain.use_cases.training import event_metrics_against, fit_model, score_frame, sklearn_scorer

DAY = pd.Timedelta(days=1)
WARMUP_DAYS = N_DAYS + 1  # the 10-day baselines need history before features are meaningful


def _log(msg: str) -> None:
    print(msg, flush=True)


def prepare_herd(seed: int, animals: int, days: int, start: str, cache: Path
                 ) -> tuple[pd.DataFrame, pd.DataFrame, FarmRecords]:
    """(features with labels, gt_events, farm records) of one simulated herd, cached on disk."""
    cfg = SimConfig(n_animals=animals, days=days, seed=seed, start=pd.Timestamp(start).date())
    # The key covers the simulator's and the feature layer's code too: a cache made before a
    # change to either would silently evaluate the old signal or features.
    code = hashlib.sha1()
    root = Path(__file__).resolve().parents[1] / "smx_assets" / "domain"
    for src in sorted([*(root / "simulator").glob("*.py"), *(root / "features").glob("*.py")]):
        code.update(src.read_bytes())
    key = hashlib.sha1((json.dumps(cfg.to_dict(), sort_keys=True) + code.hexdigest()).encode()).hexdigest()[:10]
    folder = cache / f"herd_s{seed}_a{animals}_d{days}_{key}"
    t0 = time.perf_counter()
    herd = simulate(cfg)
    tables = herd.tables()
    records = records_from_tables(tables)
    gt = tables["gt_events"]
    feat_path = folder / "features.parquet"
    if feat_path.exists():
        _log(f"seed {seed}: cached features {feat_path}")
        return pd.read_parquet(feat_path), gt, records
    folder.mkdir(parents=True, exist_ok=True)
    _log(f"seed {seed}: simulated {animals} animals x {days} days in {time.perf_counter() - t0:.0f} s")
    bolus, climate = herd.bolus, herd.climate
    first = cfg.start_ts
    stats = {}
    for d in pd.date_range(first, cfg.end_ts, freq="D", inclusive="left"):
        stats[d] = daily_hourly_stats(bolus[(bolus["ts"] >= d - BASELINE_CONTEXT) & (bolus["ts"] < d + DAY)], d)
    frames = []
    for d in pd.date_range(first + WARMUP_DAYS * DAY, cfg.end_ts, freq="D", inclusive="left"):
        t = time.perf_counter()
        hist = pd.concat([stats[h] for h in pd.date_range(d - N_DAYS * DAY, d, freq="D", inclusive="left")],
                         ignore_index=True)
        baselines = baselines_from_stats(hist, d)
        w = (bolus["ts"] >= d - LOOKBACK) & (bolus["ts"] < d + DAY)
        wc = (climate["ts"] >= d - LOOKBACK) & (climate["ts"] < d + DAY)
        # The records as the farm software held them at the day's end, like animal_profiles.
        frame = compute_features(bolus[w], climate[wc], records.known_by(d + DAY), baselines, (d, d + DAY))
        frames.append(attach_labels(frame, records))
        _log(f"seed {seed}: features {d.date()} {len(frame):,} rows in {time.perf_counter() - t:.1f} s")
    out = pd.concat(frames, ignore_index=True)
    out.to_parquet(feat_path, index=False)
    return out, gt, records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--animals", type=int, default=300)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--test-animals", type=int, default=None, help="default: --animals")
    p.add_argument("--train-seed", type=int, default=11)
    p.add_argument("--test-seed", type=int, default=23)
    p.add_argument("--start", default="2024-06-01")
    p.add_argument("--cache", type=Path, default=Path(".smx/bench_cache"))
    p.add_argument("--prepare-only", action="store_true")
    p.add_argument("--use-cases", nargs="*", default=None)
    p.add_argument("--sweep", action="store_true", help="also print ML metrics over a threshold grid")
    p.add_argument("--diagnose", action="store_true", help="print where ML alerts fall around events")
    p.add_argument("--holdout-housing", choices=HOUSINGS, default=None,
                   help="train only on the cows of the other housing type (a farm type held out of training)")
    args = p.parse_args(argv)
    train, _, train_records = prepare_herd(args.train_seed, args.animals, args.days, args.start, args.cache)
    if args.holdout_housing:
        keep = housing_of(train) != args.holdout_housing
        train = train[train["animal_id"].map(keep)].reset_index(drop=True)  # before the copies below: memory
        _log(f"training on the {', '.join(h for h in HOUSINGS if h != args.holdout_housing)} cows only "
             f"({train['animal_id'].nunique()} animals): {args.holdout_housing} is held out")
    test, test_gt, test_records = prepare_herd(args.test_seed, args.test_animals or args.animals, args.days,
                                               args.start, args.cache)
    if args.prepare_only:
        return 0
    # Labels as the farm records stood when the training herd's data ended (what the
    # training_features asset sees from the herd DB then), not the simulator's future records.
    end = pd.Timestamp(args.start, tz="UTC") + args.days * DAY
    train = attach_labels(train.drop(columns=["label_heat", "label_calving", "label_fever"]),
                          train_records.known_by(end))
    return run_evaluation(args, train, test, test_gt, train_records.known_by(end), test_records)


HOUSINGS = ("barn", "pasture")


def housing_of(frame: pd.DataFrame) -> pd.Series:
    """``barn``/``pasture`` per animal id: pasture when the cow is on pasture at any time of the frame."""
    return frame.groupby("animal_id")["on_pasture"].max().gt(0).map({True: "pasture", False: "barn"})


TARGETS = {
    "heat": "sensitivity >= 85% and precision >= 85%",
    "calving": "alerted 6-36 h ahead for >= 85% with precision >= 70%",
    "fever": "alerted within 24 h of onset for >= 75% with <= 1 false alert / 100 cow-days",
}


def meets_target(name: str, m: dict[str, float]) -> bool:
    s, p, fa = m["sensitivity"], m["precision"], m["false_alerts_per_100_cow_days"]
    if name == "heat":
        return s >= 0.85 and p >= 0.85
    if name == "calving":
        return s >= 0.85 and p >= 0.70
    if name == "fever":
        return s >= 0.75 and fa <= 1.0
    return False


def gt_events_in_range(uc: UseCase, gt: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp) -> pd.DataFrame:
    """Ground-truth events whose whole matching window lies inside the scored range: an event
    whose alert window starts before the first scored bucket could not have been alerted."""
    ev = events_from_gt(gt, uc.event_kind)
    m = uc.event_matching
    anchor = ev["end"].fillna(ev["start"]) if m.end_anchor == "end" else ev["start"]
    ok = (ev["start"] + m.window_start >= t0) & (anchor + m.window_end <= t1)
    return ev.loc[ok].reset_index(drop=True)


def diagnose(uc: UseCase, scores: pd.DataFrame, events: pd.DataFrame) -> None:
    """Where the ML alerts fall relative to the animal's nearest event (hours, alert - start)."""
    alerts = apply_alert_policy(scores, uc.alert_policy)
    merged = alerts.merge(events, on="animal_id", how="left")
    merged["off_h"] = (merged["bucket_start"] - merged["start"]) / pd.Timedelta(hours=1)
    nearest = merged.loc[merged["off_h"].abs().groupby([merged["animal_id"], merged["bucket_start"]]).idxmin().dropna()]
    bins = [-1e9, -72, -36, -24, -12, -6, 0, 6, 12, 24, 48, 96, 1e9]
    _log(f"   alert offsets to nearest event (h): "
         f"{pd.cut(nearest['off_h'], bins).value_counts(sort=False).to_dict()}; no event for the animal: "
         f"{int(merged.groupby(['animal_id', 'bucket_start'])['off_h'].apply(lambda s: s.isna().all()).sum())}")


def run_evaluation(args: argparse.Namespace, train: pd.DataFrame, test: pd.DataFrame, test_gt: pd.DataFrame,
                   train_records: FarmRecords, test_records: FarmRecords) -> int:
    use_cases = [uc for uc in all_use_cases() if not args.use_cases or uc.name in args.use_cases]
    t0 = pd.Timestamp(test["bucket_start"].min())
    t1 = pd.Timestamp(test["bucket_start"].max()) + pd.Timedelta(minutes=10)
    rows, ok_all = [], True
    for uc in use_cases:
        fit = fit_model(uc, train, train_records)
        _log(f"{uc.name}: trained on {fit.counts['rows_trained']:,} rows ({fit.counts['rows_positive']:,} positive) "
             f"in {fit.seconds:.1f} s")
        events = gt_events_in_range(uc, test_gt, t0, t1)
        t = time.perf_counter()
        ml_scores = score_frame(sklearn_scorer(fit.model, uc.feature_columns), test)
        score_s = time.perf_counter() - t
        rule_scores = score_frame(uc.rule_baseline.score, test)
        results = {}
        housing = housing_of(test)
        groups = [("all", None)] + [(h, set(housing.index[housing == h])) for h in HOUSINGS if (housing == h).any()]
        for who, scores in (("champion (ML)", ml_scores), ("rule baseline", rule_scores)):
            for group, ids in groups:
                sc = scores if ids is None else scores[scores["animal_id"].isin(ids)]
                ev = events if ids is None else events[events["animal_id"].isin(ids)]
                m = event_metrics_against(uc, sc, ev).as_dict()
                if ids is None:
                    results[who] = m
                held = " (held out)" if group == args.holdout_housing else ""
                rows.append({"use case": uc.name, "housing": group + held, "model": who, "events": int(m["n_events"]),
                             "excluded": int(m["n_events_excluded"]), "alerts": int(m["n_alerts"]),
                             "sensitivity": m["sensitivity"], "precision": m["precision"], "F1": m["f1"],
                             "lead h (median)": m["lead_time_median_h"],
                             "false/100 cow-d": m["false_alerts_per_100_cow_days"],
                             "target met": meets_target(uc.name, m),
                             "train s": fit.seconds if who.startswith("champion") and ids is None else math.nan,
                             "score s": score_s if who.startswith("champion") and ids is None else math.nan})
        beats = results["champion (ML)"]["f1"] > results["rule baseline"]["f1"]
        ok = meets_target(uc.name, results["champion (ML)"]) and beats
        ok_all &= ok
        _log(f"{uc.name}: target {TARGETS[uc.name]}: {'MET' if meets_target(uc.name, results['champion (ML)']) else 'NOT met'}; "
             f"ML F1 {'>' if beats else '<='} rule F1")
        if args.diagnose:
            diagnose(uc, ml_scores, events)
        if args.sweep:
            for thr in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
                pol = replace(uc.alert_policy, threshold=thr)
                m = event_metrics_against(replace(uc, alert_policy=pol), ml_scores, events).as_dict()
                _log(f"   sweep thr={thr}: sens {m['sensitivity']:.3f} prec {m['precision']:.3f} f1 {m['f1']:.3f} "
                     f"fa/100 {m['false_alerts_per_100_cow_days']:.2f} lead {m['lead_time_median_h']:.1f}")
    table = pd.DataFrame(rows)
    print()
    print(f"train herd: seed {args.train_seed}, {args.animals} animals x {args.days} days; test herd: seed "
          f"{args.test_seed}, {args.test_animals or args.animals} animals x {args.days} days, scored "
          f"{t0:%Y-%m-%d %H:%M} .. {t1:%Y-%m-%d %H:%M} ({test['animal_id'].nunique()} animals, "
          f"{len(test) / 144:,.0f} cow-days); silent heats excluded"
          + (f"; trained without the {args.holdout_housing} cows" if args.holdout_housing else ""))
    print(table.to_markdown(index=False, floatfmt=".3f"))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
