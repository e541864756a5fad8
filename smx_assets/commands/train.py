"""``smx train``: train and promote every use case on what the stores hold.

1. The span of readings in the sensor store decides the days (any dates: a 2019 import too).
2. Daily features for those days: days inside the daily partition window run as one Dagster
   ``daily_features_job`` run (single-run backfill); older days go through the same functions
   (``domain/features/history.py``) into the same files. Days already computed are kept.
3. One ``training_job`` run with a window sized to the days there are (a quarter of them, at
   least one, evaluate; one gap day; the rest train). A use case whose herd lacks its signals,
   or whose window holds fewer than 5 label events to train on (1 to evaluate), trains nothing: the rule baseline stays
   champion and the reason is printed (and kept in the run's metadata and in MLflow).

Progress and the summary go to standard error; ``--json`` prints the outcome on standard output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

MIN_TRAIN_EVENTS = 5  # a real herd's model is not trained on fewer label events than this
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="compute daily features for the stored days, train and promote every use case")
    p.add_argument("--json", action="store_true", help="print the outcome per use case as JSON on standard output")
    p.add_argument("--recompute", action="store_true", help="recompute daily features already stored")
    p.set_defaults(func=run)


def training_window(n_days: int) -> dict[str, int]:
    """Train/gap/eval days for a window of ``n_days`` (a quarter evaluates, one gap day)."""
    eval_days = max(1, round(n_days / 4))
    gap_days = 1 if n_days >= 6 else 0
    return {"train_days": n_days - eval_days - gap_days, "gap_days": gap_days, "eval_days": eval_days}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from smx_assets.commands import console
    from smx_assets.commands.demo import _dagster_home, dagster_instance
    from smx_assets.run_health import worker_tag

    _dagster_home()
    verbose, argv = bool(getattr(args, "verbose", False)), getattr(args, "argv", None)

    from smx_assets.definitions import defs
    from smx_assets.defs.partitions import daily_partitions
    from smx_assets.domain.features.history import materialise_days
    from smx_assets.domain.features.profile import load_herd_records
    from smx_assets.domain.features.storage import TRAINING, FeatureFiles
    from smx_assets.domain.herd_db_migrate import upgrade_herd_db
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.time_grid import DAY, day_key
    from smx_assets.domain.use_cases.catalog import all_use_cases
    from smx_assets.settings import Settings

    t0 = time.perf_counter()
    settings = Settings.from_env()
    engine = make_engine(settings.herd_db_url)
    upgrade_herd_db(engine)
    store = open_sensor_store(settings.sensor_store_url)
    store.ensure_schema()
    files = FeatureFiles(settings.features_path)
    try:
        span = store.reading_span()
        if span is None:
            _say("smx train: the sensor store holds no readings: import or simulate data first (smx import PATH...)")
            return 1
        today = pd.Timestamp.now(tz="UTC").floor("D")
        days = list(pd.date_range(span[0].floor("D"), min(span[1].floor("D"), today - DAY), freq="D"))
        if len(days) < 3:
            _say(f"smx train: readings span {len(days)} complete day(s) ({span[0]} .. {span[1]}); training needs 3")
            return 1
        todo = [d for d in days if args.recompute or not files.exists(TRAINING, d)]
        first_key, last_key = daily_partitions.get_first_partition_key(), daily_partitions.get_last_partition_key()
        in_window = [d for d in todo if first_key and last_key and first_key <= day_key(d) <= last_key]
        history = [d for d in todo if d not in in_window]
        _say(f"smx train: {len(days)} days of readings {day_key(days[0])} .. {day_key(days[-1])}; "
             f"{len(todo)} need daily features ({len(in_window)} in the daily partitions, {len(history)} older)")
        instance = dagster_instance()
        if in_window:
            job, quiet = console.for_terminal(defs.resolve_job_def("daily_features_job"), verbose)
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=quiet,
                tags={RANGE_START: day_key(in_window[0]), RANGE_END: day_key(in_window[-1]), **worker_tag()})
            if not result.success:
                _say(f"smx train: daily_features_job: {console.run_failure_line(result, argv)}")
                return 1
            _say(f"  daily_features_job run {result.run_id}: {len(in_window)} days")
        if history:
            materialise_days(store, load_herd_records(engine), files, history, progress=_say)
    finally:
        store.close()
        engine.dispose()

    window = {**training_window(len(days)), "end_day": day_key(days[-1]),
              "min_train_label_events": MIN_TRAIN_EVENTS, "min_eval_label_events": 1}
    use_cases = all_use_cases()
    run_config = {"ops": {f"{uc.name}_model": {"config": window} for uc in use_cases}}
    _say(f"smx train: training on {window['train_days']} days, gap {window['gap_days']}, "
         f"evaluating on {window['eval_days']} (ending {window['end_day']})")
    job, run_config = console.for_terminal(defs.resolve_job_def("training_job"), verbose, run_config)
    result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False, tags=worker_tag())
    outcome: dict[str, dict[str, str]] = {}
    for uc in use_cases:
        model_meta = _metadata(result, f"{uc.name}_model")
        promo_meta = _metadata(result, f"{uc.name}_promotion")
        if model_meta.get("reason"):
            outcome[uc.name] = {"trained": "no", "champion": model_meta.get("champion", ""), "reason": model_meta["reason"]}
        elif promo_meta:
            outcome[uc.name] = {"trained": model_meta.get("model", ""), "champion": f"v{promo_meta.get('champion_after', '?')}",
                                "reason": promo_meta.get("reason", "")}
        else:
            outcome[uc.name] = {"trained": "failed", "champion": "", "reason": f"see run {result.run_id}"}
        o = outcome[uc.name]
        _say(f"  {uc.name}: trained {o['trained']}; champion {o['champion']}; {o['reason']}")
    if result.success:
        _say(f"smx train: done in {time.perf_counter() - t0:.0f} s (Dagster run {result.run_id})")
    else:
        _say(f"smx train: training_job: {console.run_failure_line(result, argv)}")
    if args.json:
        print(json.dumps({"run_id": result.run_id, "success": result.success, "window": window,
                          "use_cases": outcome}, indent=2))
    return 0 if result.success else 1


def _metadata(result, node: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    try:
        mats = result.asset_materializations_for_node(node)
    except Exception:  # noqa: BLE001 - the node did not run
        return {}
    if not mats:
        return {}
    return {k: str(getattr(v, "value", v)) for k, v in mats[-1].metadata.items()}
