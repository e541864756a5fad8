"""Choosing the heat rule on real collar data, weeks 1-2 only: leave-one-week-out (issue 11).

Imports only the first two weekly BovHEAT exports (``February 4 2019.xlsx``,
``February 11 2019.xlsx``) through ``import_paths``, so nothing of week 3 is read, computes the
features the detector uses, and scores rule variants with the heat use case's alert policy
against the reference episodes of the same two files:

* persistence: the 12-hour ratio over the cow's hour-of-day baseline held for 4 h (the
  ``activity_ratio_hod_12h_min_4h`` feature), 6 h or 8 h;
* cut-off 1.2 .. 1.6;
* refractory period 36 h (the policy's) or 72 h (one alert per heat even when the ratio
  lingers).

Folds: week 1 from Jan 31 (the first 3 days have no baseline) and week 2 (Feb 4 - 11); each
variant family is tuned (highest F1) on one week and scored on the other. The final choice is
the family with the best mean held-out F1, then its best cut-off on both weeks together.

Run: ``python bench/sweep_real_heat.py [--data DIR]``. Week 3 is reported by
``evaluate_real.py`` once, with the final choice.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.features import compute_features
from smx_assets.domain.features.baselines import baselines_from_store
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.importers import import_paths
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.use_cases._common import logistic
from smx_assets.domain.use_cases.alerting import apply_alert_policy
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets.domain.use_cases.reference_eval import agreement, reference_episodes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_real import default_data  # noqa: E402

WEEKS_1_2 = ("February 4 2019.xlsx", "February 11 2019.xlsx")
DAY = pd.Timedelta(days=1)
FOLDS = {"week 1": ("2019-01-31", "2019-02-04"), "week 2": ("2019-02-04", "2019-02-11"),
         "weeks 1-2": ("2019-01-31", "2019-02-11")}
PERSIST = {"4h": None, "6h": 36, "8h": 48}  # None: the stored min_4h feature; else buckets
CUTOFFS = (1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5, 1.6)
REFRACTORY = ("36h", "72h")


def features_weeks_1_2(data: Path, work: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    paths = [data / "weekly" / f for f in WEEKS_1_2]
    url = f"sqlite:///{work / 'herd.db'}"
    upgrade_herd_db(url)
    engine = make_engine(url)
    store = open_sensor_store(f"sqlite:///{work / 'sensors.db'}")
    store.ensure_schema()
    import_paths(paths, farm="bovheat", store=store, engine=engine)
    records = load_herd_records(engine)
    start, end = pd.Timestamp("2019-01-28", tz="UTC"), pd.Timestamp("2019-02-11", tz="UTC")
    days = list(pd.date_range(start, end, freq="D", inclusive="left"))
    baselines = baselines_from_store(store, days)
    empty = store.read_climate(start - LOOKBACK, end)
    frames = [compute_features(store.read_bolus(d - LOOKBACK, d + DAY), empty, records.known_by(d + DAY),
                               baselines[d], (d, d + DAY)) for d in days]
    with engine.connect() as conn:
        numbers = pd.read_sql(sa.text("SELECT id AS animal_id, cow_number FROM animals"), conn)
    readings = store.read_bolus(start, end)
    cow_day = (readings.assign(day=readings["ts"].dt.floor("D")).merge(numbers, on="animal_id")
               [["cow_number", "day"]].drop_duplicates())
    store.close()
    engine.dispose()
    feats = pd.concat(frames, ignore_index=True).merge(numbers, on="animal_id")
    return feats.sort_values(["animal_id", "bucket_start"]).reset_index(drop=True), cow_day, reference_episodes(paths)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_data())
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smx-sweep-") as tmp:
        f, cow_day, episodes = features_weeks_1_2(args.data, Path(tmp))
    heat = use_case("heat")
    ratio = f.groupby("animal_id")["activity_ratio_hod_12h"]
    signal = {name: (f["activity_ratio_hod_12h_min_4h"] if w is None
                     else ratio.transform(lambda s, w=w: s.rolling(w, min_periods=1).min()))
              for name, w in PERSIST.items()}
    numbers = f[["animal_id", "cow_number"]].drop_duplicates()
    rows = []
    for (name, sig), cut, refr in itertools.product(signal.items(), CUTOFFS, REFRACTORY):
        scores = f[["animal_id", "bucket_start"]].assign(score=logistic(sig, cut, 0.05))
        alerts = apply_alert_policy(scores, replace(heat.alert_policy, refractory=refr))
        alerts = alerts.merge(numbers, on="animal_id").rename(columns={"bucket_start": "alert_time"})
        row = {"persist": name, "cutoff": cut, "refractory": refr}
        for fold, (a, b) in FOLDS.items():
            t0, t1 = pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")
            n = float(((cow_day["day"] >= t0) & (cow_day["day"] < t1)).sum())
            m = agreement(alerts, episodes, t0, t1, n)
            row.update({f"{fold} sens": m.sensitivity, f"{fold} prec": m.precision, f"{fold} F1": m.f1})
            if fold == "weeks 1-2":
                row.update({"episodes": m.episodes, "detected": m.detected, "alerts": m.alerts, "true": m.true_alerts})
        rows.append(row)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print()
    held = {}
    for name in PERSIST:
        sub = table[table["persist"] == name]
        scores = []
        for tune, test in (("week 1", "week 2"), ("week 2", "week 1")):
            best = sub.loc[sub[f"{tune} F1"].idxmax()]
            scores.append(best[f"{test} F1"])
            print(f"hold {name}: tuned on {tune} (cut-off {best['cutoff']}, refractory {best['refractory']}) -> "
                  f"{test}: F1 {best[f'{test} F1']:.3f}, precision {best[f'{test} prec']:.3f}, "
                  f"sensitivity {best[f'{test} sens']:.3f}")
        held[name] = sum(scores) / len(scores)
    family = max(held, key=lambda k: held[k])
    sub = table[table["persist"] == family]
    final = sub.loc[sub["weeks 1-2 F1"].idxmax()]
    print(f"\nmean held-out F1: {', '.join(f'{k} {v:.3f}' for k, v in held.items())}; final: hold {family}, "
          f"cut-off {final['cutoff']}, refractory {final['refractory']} (weeks 1-2: sensitivity "
          f"{final['weeks 1-2 sens']:.3f}, precision {final['weeks 1-2 prec']:.3f}, F1 {final['weeks 1-2 F1']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
