"""Heat alerts on real collar exports against the published reference heats (issue 11).

1. Import the three weekly SCR Heatime exports of ``bovheat/weekly`` through ``import_paths``
   (the code behind ``smx import``) into a scratch herd DB and sensor store (SQLite files).
2. Detect heats with the heat use case's rule baseline over the whole span
   (``reference_eval.detect_heats``: the daily baselines, the feature pipeline, the rule and the
   use case's alert policy), reading only the stores, which never hold ``Activity Change``.
3. Compare with the reference episodes computed from ``Activity Change`` in the files (the rule
   is in the data README) and print sensitivity, precision, F1 and false alerts per 100 cow-days
   with 95 % intervals (Wilson; exact Poisson for the rate) and the counts behind them.

Tuning used weeks 1-2 only (the files of February 4 and 11, 2019); week 3 (February 18) is the
report. The first three days have no baseline yet (it needs 3 days of the cow's own history),
so the tuning figures are also given from January 31 on.

Run: ``python bench/evaluate_real.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from smx_assets.domain.features.profile import load_herd_records
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.importers import import_paths
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets.domain.use_cases.catalog import use_case
from smx_assets.domain.use_cases.reference_eval import agreement, detect_heats, reference_episodes

FILES = ("February 4 2019.xlsx", "February 11 2019.xlsx", "February 18 2019.xlsx")
PERIODS = (
    ("weeks 1-2 (tuning)", "2019-01-28", "2019-02-11"),
    ("weeks 1-2 from Jan 31 (tuning, baselines warm)", "2019-01-31", "2019-02-11"),
    ("week 3 (report, never tuned on)", "2019-02-11", "2019-02-18"),
)


def default_data() -> Path:
    env = os.environ.get("SMX_BOVHEAT_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "smx_assets_tests" / "data" / "bovheat"


def run(data: Path, work: Path, say=print) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Import, detect and compare; returns the alerts, episodes and per-period agreement."""
    paths = [data / "weekly" / f for f in FILES]
    url = f"sqlite:///{work / 'herd.db'}"
    upgrade_herd_db(url)
    engine = make_engine(url)
    store = open_sensor_store(f"sqlite:///{work / 'sensors.db'}")
    store.ensure_schema()
    t = time.perf_counter()
    report = import_paths(paths, farm="bovheat", store=store, engine=engine)
    for f in report.files:
        say(f"import: {f.line()}")
    say(f"imported in {time.perf_counter() - t:.0f} s")
    records = load_herd_records(engine)
    heat = use_case("heat")
    start, end = pd.Timestamp("2019-01-28", tz="UTC"), pd.Timestamp("2019-02-18", tz="UTC")
    t = time.perf_counter()
    alerts = detect_heats(store, records, heat, start, end)
    say(f"detection over {start.date()} .. {end.date()}: {len(alerts)} alerts in {time.perf_counter() - t:.0f} s "
        f"(rule {heat.rule_baseline.name} {dict(heat.rule_baseline.params)}, policy {heat.alert_policy.as_params()})")
    with engine.connect() as conn:
        numbers = pd.read_sql(sa.text("SELECT id AS animal_id, cow_number FROM animals"), conn)
    alerts = alerts.merge(numbers, on="animal_id", how="left").rename(columns={"bucket_start": "alert_time"})
    readings = store.read_bolus(start, end + pd.Timedelta(days=1))
    store.close()
    engine.dispose()
    cow_day = readings.assign(day=readings["ts"].dt.floor("D")).merge(numbers, on="animal_id")[["cow_number", "day"]]
    cow_day = cow_day.drop_duplicates()
    episodes = reference_episodes(paths)
    out: dict[str, object] = {"alerts": alerts, "episodes": episodes}
    for name, a, b in PERIODS:
        t0, t1 = pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")
        n_days = float(((cow_day["day"] >= t0) & (cow_day["day"] < t1)).sum())
        out[name] = agreement(alerts, episodes, t0, t1, n_days)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_data(), help="the bovheat folder (with weekly/)")
    args = p.parse_args(argv)
    if not (args.data / "weekly").is_dir():
        print(f"evaluate_real: no weekly/ folder in {args.data} (set --data or SMX_BOVHEAT_DIR)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="smx-real-") as tmp:
        out = run(args.data, Path(tmp))
    episodes = out["episodes"]
    print(f"\nreference: {len(episodes)} episodes in the three files, {int(episodes['calving'].sum())} of them "
          "calving activity (peak at days in lactation -1..+3: count neither way)")
    for name, _, _ in PERIODS:
        print(f"\n{name}:")
        for line in out[name].lines():  # type: ignore[attr-defined]
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
