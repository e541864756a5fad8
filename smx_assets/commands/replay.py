"""``smx replay ALERT_ID [--json]`` and ``smx replay --from DATE --to DATE [--use-case U] [--sample N]``.

Recomputes an alert (or a random sample of a range's stored scores) from the raw readings as
they were known when it was scored, the farm records as known then and the exact model version
it names, and compares features (bit for bit), score (exactly) and, for an alert, that the alert
policy raises it again (``smx_assets.domain.replay``). Exit status: 0 identical, 1 something
differs, 2 it cannot be replayed (unknown id, model version gone, readings no longer kept, a
store unreachable), said in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from smx_assets.commands._args import int_in, require_data, utc_time
from smx_assets.settings import Settings

IDENTICAL, DIFFERENT, CANNOT = 0, 1, 2
DEFAULT_SAMPLE = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="recompute an alert (or sampled scores) from raw readings and model version, "
                                      "and compare bit for bit")
    p.add_argument("alert_id", type=int_in(1), nargs="?", help="the alert's id (smx alerts)")
    p.add_argument("--from", dest="start", type=utc_time, help="replay stored scores from this UTC day/time")
    p.add_argument("--to", dest="end", type=utc_time, help="... to this one (exclusive)")
    p.add_argument("--use-case", dest="use_case", help="only scores of this use case (heat, calving, fever)")
    p.add_argument("--sample", type=int_in(1, 100_000), default=DEFAULT_SAMPLE,
                   help=f"scores drawn at random from the range (default {DEFAULT_SAMPLE})")
    p.add_argument("--seed", type=int_in(0), default=None, help="random seed of the sample (default: fresh)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


@contextmanager
def open_replayer(settings: Settings) -> Iterator[Any]:
    """A :class:`~smx_assets.domain.replay.Replayer` on the configured stores (closed after)."""
    from smx_assets.domain import model_registry
    from smx_assets.domain.features.storage import FeatureFiles
    from smx_assets.domain.replay import Replayer, readings_kept_from
    from smx_assets.domain.score_store import ScoreFiles, ScoreStore
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.settings import code_version

    engine = make_engine(settings.herd_db_url, connect_timeout_s=settings.database.connect_timeout_s)
    store = open_sensor_store(settings.sensor_store_url, connect_timeout_s=settings.database.connect_timeout_s)
    try:
        yield Replayer(engine=engine, store=store, files=FeatureFiles(settings.features_path),
                       scores=ScoreStore(engine, ScoreFiles(settings.features_path)),
                       client=model_registry.configure(settings.mlflow_tracking_uri),
                       running_code_version=code_version(),
                       readings_kept_from=readings_kept_from(pd.Timestamp.now(tz="UTC"),
                                                             settings.retention.readings_days))
    finally:
        store.close()
        engine.dispose()


def _fail(line: str) -> int:
    print(f"smx replay: {' '.join(line.split())}", file=sys.stderr)
    return CANNOT


def run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from smx_assets.domain.replay import ReplayError
    from smx_assets.domain.sensor_store.base import SensorStoreError

    ranged = args.start is not None or args.end is not None
    if args.alert_id is None and not ranged:
        return _fail("give an ALERT_ID, or --from DATE --to DATE to replay sampled scores")
    if args.alert_id is not None and ranged:
        return _fail("give either an ALERT_ID or --from/--to, not both")
    if ranged and (args.start is None or args.end is None or args.end <= args.start):
        return _fail("--from and --to are both needed, --to after --from")
    settings = Settings.from_env(create_home=False)
    try:
        require_data(settings.herd_db_url)
        with open_replayer(settings) as replayer:
            if args.alert_id is not None:
                return _one(replayer, args)
            return _many(replayer, args)
    except ReplayError as exc:
        return _fail(str(exc))
    except SensorStoreError as exc:
        return _fail(f"sensor store unreachable: {exc}")
    except sa.exc.OperationalError as exc:
        return _fail(f"herd DB unreachable: {str(exc.orig).splitlines()[0] if exc.orig else exc}")


def _one(replayer: Any, args: argparse.Namespace) -> int:
    from smx_assets.domain.replay import alert_target

    report = replayer.replay(alert_target(replayer.engine, replayer.scores, args.alert_id))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print_report(report)
    return IDENTICAL if report.identical else DIFFERENT


def _many(replayer: Any, args: argparse.Namespace) -> int:
    from smx_assets.domain.features.profile import active_animals
    from smx_assets.domain.replay import replay_all, sample_scores

    herd = active_animals(replayer.records(), args.start, args.end)
    targets = sample_scores(replayer.scores, args.start, args.end, args.sample, use_case=args.use_case, seed=args.seed,
                            animal_pool=herd)
    if not targets:
        return _fail(f"no stored score from {args.start:%Y-%m-%d %H:%M} to {args.end:%Y-%m-%d %H:%M} UTC"
                     f"{f' of {args.use_case}' if args.use_case else ''}: nothing to replay")
    summary = replay_all(replayer, targets)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, default=str))
    else:
        for r in summary.different:
            print(f"different: {r.target.label}: {r.first_difference}")
        for what, why in summary.skipped:
            print(f"skipped: {what}: {why}")
        print(f"smx replay: {summary.line()}")
    if summary.different:
        return DIFFERENT
    return IDENTICAL if summary.reports else CANNOT


def print_report(report: Any) -> None:
    """The replay as a few lines: verdict, then one line per stage."""
    d = report.as_dict()
    i, f, s, a, c = d["inputs"], d["features"], d["score"], d["alert"], d["code_version"]
    verdict = "identical" if d["identical"] else f"DIFFERENT ({d['first_difference']})"
    print(f"{d['replayed']}: {verdict}")
    print(f"  {d['use_case']} for animal {d['animal_id']} at bucket {d['bucket_start']}, "
          f"inputs as known at {d['known_at']} ({d['known_at_source']})")
    print(f"  readings: {i['window_readings_used']} in the 26 h window ({i['window_readings_received_later']} "
          f"received later, left out), {i['baseline_readings_used']} under the baselines "
          f"({i['baseline_readings_received_later']} later), climate {i['climate_readings_used']} "
          f"({i['climate_readings_received_later']} later)")
    if f["identical"]:
        print(f"  features: {f['columns_compared']} columns identical bit for bit with {f['compared_with']}")
    else:
        print(f"  features: {len(f['differing'])} of {f['columns_compared']} columns differ from {f['compared_with']}:")
        for diff in f["differing"]:
            delta = f" (delta {diff['delta']:+.6g})" if isinstance(diff.get("delta"), float) else ""
            print(f"    {diff['column']:32s} stored {diff['stored']!r:>22}  replayed {diff['replayed']!r:>22}{delta}")
    print(f"  score: {s['model']} ({s['model_uri']}) stored {s['stored']!r}, replayed {s['replayed']!r}: "
          f"{'identical' if s['identical'] else 'DIFFERENT'}")
    if a is not None:
        print(f"  alert: {'raised again' if a['raised_again'] else 'NOT raised again'} at the bucket by the alert "
              f"policy over {a['history_scores']} stored scores since {a['history_from']}")
    print(f"  code version: recorded {c['recorded']}, running {c['running']}"
          f"{'' if c['same'] else '  (DIFFERENT code: the replay ran on the running code)'}")
    for note in d["notes"]:
        print(f"  note: {note}")
