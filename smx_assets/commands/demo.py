"""``smx demo``: the whole chain on the embedded default, as real Dagster runs.

simulate a herd -> daily feature assets (one single-run backfill) -> train and register every
use case -> promote -> retro-score the last K days (one vectorised run) -> monitoring, then a
summary of what happened and where to look. Every stage is a Dagster job executed against
the instance in ``DAGSTER_HOME``, so the runs, materialisations, checks and metadata are
there in the UI afterwards (``make ui``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import logging
import os
import sys
from pathlib import Path

import pandas as pd

from smx_assets.commands import console
from smx_assets.commands._args import BadArgument, int_in
from smx_assets.domain.time_grid import BUCKET_FREQ, PARTITION_KEY_FORMAT

log = logging.getLogger("smx.demo")
MAX_ANIMALS = 20_000  # the simulator's tested range; more is a benchmark, not a demo
MAX_DAYS = 3_650

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole chain end to end on the embedded default")
    p.add_argument("--animals", type=int_in(1, MAX_ANIMALS), default=200, help="herd size (default 200)")
    p.add_argument("--days", type=int_in(1, MAX_DAYS), default=50,
                   help="days of history to simulate (default 50: training needs 45; fewer days keep the rule baselines)")
    p.add_argument("--seed", type=int_in(0), default=7)
    p.add_argument("--score-days", type=int_in(1, MAX_DAYS), default=1,
                   help="days to retro-score at the end (default 1; at most --days)")
    p.add_argument("--fresh", action="store_true", help="delete SMX_HOME's stores first")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="also print Dagster's event stream and our INFO logs (same as smx -v demo)")
    p.set_defaults(func=run, check=check)


def _dagster_home() -> Path:
    """DAGSTER_HOME if set; else the repository root when it has our dagster.yaml."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    root = Path(__file__).resolve().parents[2]
    home = root if (root / "dagster.yaml").exists() else Path.cwd()
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def dagster_instance():  # type: ignore[no-untyped-def]
    """The Dagster instance in ``DAGSTER_HOME``, its first opening serialised between processes.

    A fresh home's SQLite run/event storage is created and stamped with Alembic on first open;
    two commands doing that at once (two first ``smx train``) left two rows in its
    ``alembic_version`` and every later command failed ("more than one head present").
    """
    import dagster as dg
    import filelock

    home = _dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(home / ".smx-instance.lock"), timeout=300):
        return dg.DagsterInstance.get()


def _execute(defs, job_name: str, instance, tags: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
             partition_key: str | None = None, run_config: dict | None = None, *, verbose: bool = False,
             argv: list[str] | None = None):
    """Run ``job_name`` in process; a failure raises :class:`console.RunFailed`, one line naming
    the step, the error and how to see the full log (Dagster's own stack trace only with -v)."""
    from smx_assets.run_health import worker_tag

    job, run_config = console.for_terminal(defs.resolve_job_def(job_name), verbose, run_config)
    result = job.execute_in_process(instance=instance, tags={**(tags or {}), **worker_tag()}, partition_key=partition_key,
                                    run_config=run_config, raise_on_error=False)
    if not result.success:
        raise console.RunFailed(f"{job_name}: {console.run_failure_line(result, argv)}")
    return result


def _meta(result, asset: str) -> dict:  # type: ignore[no-untyped-def]
    """The (last) materialisation metadata of ``asset`` in a run, as plain values."""
    out: dict = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.to_user_string() == asset:
            out = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def _promotion_lines(result) -> str:  # type: ignore[no-untyped-def]
    from smx_assets.domain.use_cases.catalog import all_use_cases

    lines = []
    for uc in all_use_cases():
        m = _meta(result, f"{uc.name}_promotion")
        n = m.get("numbers") or {}
        kind = "ML model" if m.get("winner") == "challenger" else "rule baseline"
        f1 = (f"F1 {n['challenger_f1']:.3f} vs rule {n['baseline_f1']:.3f}"
              if isinstance(n.get("challenger_f1"), float) and isinstance(n.get("baseline_f1"), float) else "")
        after = m.get("champion_after")
        # No champion alias yet: scoring falls back to the registered rule baseline (say which).
        who = f"champion v{after}" if after not in (None, "none") else f"champion {uc.rule_model_name}"
        lines.append(f"      {uc.name:8s} {who} ({kind}): {f1}"
                     f"{', ' if f1 else ''}{m.get('eval_events')} events, cross-validated by animal"
                     if f1 else f"      {uc.name:8s} {who} ({kind}): {m.get('reason')}")
    return "\n" + "\n".join(lines)


def check(args: argparse.Namespace) -> None:
    """What argparse cannot see in one argument, before any work (one line, exit 2)."""
    if args.score_days > args.days:
        raise BadArgument(f"--score-days {args.score_days} is more than --days {args.days}: "
                          "only simulated days can be scored (use at most --days)")


def run(args: argparse.Namespace) -> int:
    check(args)
    dagster_home = _dagster_home()
    # One OpenMP thread per process: on a small shared machine scikit-learn's default (a thread
    # per core, spinning while it waits) made each fit 20x slower under load (27 s vs 1.2 s for
    # the calving model, measured); a deployment sets OMP_NUM_THREADS itself.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    verbose = bool(getattr(args, "verbose", False))
    console.configure_logging(verbose)
    from smx_assets import settings

    home = settings.smx_home()
    if args.fresh:
        for name in ("herd.db", "sensors.db", "mlflow.db"):
            for suffix in ("", "-wal", "-shm"):
                (home / f"{name}{suffix}").unlink(missing_ok=True)
        (home / settings.DATA_START_FILE).unlink(missing_ok=True)  # the new herd records its own first day


    from smx_assets.commands import simulate as simulate_cmd
    from smx_assets.definitions import defs
    from smx_assets.defs.partitions import DAILY_WINDOW_DAYS, SCORES_WINDOW_DAYS, WINDOWS

    console.configure_logging(verbose)  # again: importing mlflow set its own logger back to INFO

    today = dt.datetime.now(dt.timezone.utc).date()
    start = today - dt.timedelta(days=args.days)
    score_from = today - dt.timedelta(days=args.score_days)
    problem = _check_ranges(args, score_from, WINDOWS.ten_minute_start, SCORES_WINDOW_DAYS)
    if problem:
        print(f"smx demo: {problem}", file=sys.stderr)
        return 2
    # The daily partitions reach back SMX_DAILY_WINDOW_DAYS: older simulated days stay in the
    # stores as history (training reads the newest 45 days; `smx score` scores any older range).
    features_from = max(start, WINDOWS.daily_start)
    if features_from > start:
        print(f"      daily features from {features_from} (SMX_DAILY_WINDOW_DAYS={DAILY_WINDOW_DAYS}); "
              f"{start}..{features_from - dt.timedelta(days=1)} stays history: "
              f"`smx score --from {start} --to ...` scores it", flush=True)
    print(f"smx demo: {args.animals} animals x {args.days} days (seed {args.seed}), data in {home}, "
          f"Dagster instance in {dagster_home}", flush=True)
    steps = console.Steps(6)
    quiet = console.run_config(verbose)

    def simulate() -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            simulate_cmd.run(argparse.Namespace(
                animals=args.animals, days=args.days, seed=args.seed, start=start, farms=min(2, args.animals), live=False,
                steps=1, herd_db_url=None, sensor_store_url=None))
        return out.getvalue().strip().split(" into ")[0]

    steps.run("simulate herd", simulate, figures=str)
    instance = dagster_instance()  # runs of a killed earlier command were failed at start (smx_assets.cli)
    how = {"verbose": verbose, "argv": getattr(args, "argv", None)}
    day_range = {RANGE_START: features_from.isoformat(), RANGE_END: (today - dt.timedelta(days=1)).isoformat()}
    steps.run("daily features (one single-run backfill)", _execute, defs, "daily_features_job", instance,
              day_range, run_config=quiet, **how,
              figures=lambda r: f"{_meta(r, 'training_features').get('run_row_count', 0):,} feature rows "
                                f"over {(today - features_from).days} days, run {r.run_id[:8]}")
    steps.run("train, cross-validate and promote (heat, calving, fever)", _execute, defs, "training_job", instance,
              run_config=quiet, **how, figures=lambda r: f"run {r.run_id[:8]}" + _promotion_lines(r))
    buckets = pd.date_range(pd.Timestamp(score_from), pd.Timestamp(today), freq=BUCKET_FREQ, inclusive="left")
    fmt = PARTITION_KEY_FORMAT
    steps.run(f"retro-score {len(buckets)} buckets (one run)", _execute, defs, "scoring_job", instance,
              {RANGE_START: buckets[0].strftime(fmt), RANGE_END: buckets[-1].strftime(fmt)}, run_config=quiet, **how,
              figures=lambda r: (lambda m: f"{m.get('run_predictions_written', 0):,} predictions, "
                                           f"{m.get('run_alerts_new_total', 0)} new alerts, run {r.run_id[:8]}")(
                  _meta(r, "scores")))
    monitor_range = {RANGE_START: score_from.isoformat(), RANGE_END: (today - dt.timedelta(days=1)).isoformat()}
    steps.run("monitoring (drift, alert volume, performance)", _execute, defs, "monitoring_job", instance,
              monitor_range, run_config=quiet, **how, figures=lambda r: f"run {r.run_id[:8]}")
    steps.run("bring the simulated farm up to the clock", _catch_up, settings,
              figures=lambda out: f"{out['bolus']:,} readings delivered, farm at {out['until']:%Y-%m-%d %H:%M} UTC")

    from smx_assets.commands.summary import print_summary

    print_summary(settings.Settings.from_env(), since=pd.Timestamp(score_from, tz="UTC"))
    print(f"\nsmx demo finished in {steps.elapsed():.0f} s. Open the UI with `make ui` "
          f"({settings.Settings.from_env().dagster_ui_url}) "
          f"and the MLflow UI it links to on {settings.Settings.from_env().mlflow_ui_url}.")
    return 0


def _check_ranges(args: argparse.Namespace, score_from: dt.date, ten_minute_start: dt.date,
                  scores_window_days: int) -> str | None:
    """A one-line reason the requested ranges cannot run, or None."""
    if args.days < 1:
        return f"--days {args.days}: simulate at least one day (training needs 45 days of features)"
    if args.animals < 1:
        return f"--animals {args.animals}: at least one animal"
    if args.score_days < 1:
        return f"--score-days {args.score_days}: score at least one day"
    if score_from < ten_minute_start:
        return (f"--score-days {args.score_days} reaches {score_from}, before the ten-minute partitions "
                f"(they start {ten_minute_start}: SMX_SCORES_WINDOW_DAYS={scores_window_days}); "
                f"use at most {scores_window_days} or score older days with `smx score --from --to`")
    return None


def _catch_up(settings) -> dict:  # type: ignore[no-untyped-def]
    """Deliver what the farm has "received" between midnight and now, so `make ui` starts live."""
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.simulator.live import live_step, load_state, steps_behind, wall_clock
    from smx_assets.domain.sql_engine import make_engine

    s = settings.Settings.from_env()
    engine = make_engine(s.herd_db_url)
    store = open_sensor_store(s.sensor_store_url)
    try:
        state = load_state(engine)
        now = wall_clock()
        return live_step(engine, store, steps=steps_behind(state[1], now), now=now)
    finally:
        store.close()
        engine.dispose()


def _has_job(defs, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        defs.resolve_job_def(name)
        return True
    except Exception:  # noqa: BLE001 - Dagster raises different errors across versions
        return False
