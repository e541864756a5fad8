"""``smx alerts [--from DATE] [--to DATE] [--use-case NAME] [--csv]``: the alerts raised.

Columns ``farm``, ``cow_number`` (the farm's own number; the ear tag for animals that have
none, such as simulated ones), ``alert_time`` (the alert's bucket start, UTC, ISO 8601),
``use_case``, ``model``, ``version``, ``score`` and, last, ``alert_id`` (what ``smx explain`` and
``smx replay`` take); oldest first. With ``--csv`` standard output
carries the CSV alone (header included) and the summary goes to standard error, so
``smx alerts --csv > alerts.csv`` is a clean file. ``--from``/``--to`` are UTC dates or times,
``--to`` exclusive (``--to 2019-02-18`` ends at the 17th's last bucket).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
import sqlalchemy as sa

from smx_assets.commands._args import ordered_times, use_case_name, utc_time
from smx_assets.domain.monitoring.alert_lookup import alert_rows, alert_time
from smx_assets.settings import Settings

COLUMNS = ["farm", "cow_number", "alert_time", "use_case", "model", "version", "score", "alert_id"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="list alerts (farm, cow number, time, use case, model, version, score)")
    p.add_argument("--from", dest="start", type=utc_time, help="first UTC date/time (inclusive)")
    p.add_argument("--to", dest="end", type=utc_time, help="last UTC date/time (exclusive)")
    p.add_argument("--use-case", dest="use_case", type=use_case_name, help="only this use case (heat, calving, fever)")
    p.add_argument("--csv", action="store_true", help="CSV on standard output, nothing else")
    p.set_defaults(func=run, check=check)


def check(args: argparse.Namespace) -> None:
    """``--to`` after ``--from`` (one line, exit 2): a reversed range listed nothing, silently."""
    ordered_times(args.start, args.end)


def list_alerts(engine: sa.Engine, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                use_case: str | None = None) -> pd.DataFrame:
    """The alerts in ``[start, end)`` as a frame with :data:`COLUMNS`, oldest first."""
    frame = alert_rows(engine, start, end, use_case)
    frame["alert_time"] = [alert_time(b) for b in frame["bucket_start"]] if len(frame) else pd.Series(dtype=str)
    frame["score"] = frame["score"].round(4)
    frame["alert_id"] = frame["alert_id"].astype("int64")
    return frame[COLUMNS]


def run(args: argparse.Namespace) -> int:
    from smx_assets.commands._args import require_data
    from smx_assets.domain.herd_db_migrate import upgrade_herd_db
    from smx_assets.domain.sql_engine import make_engine

    start, end = args.start, args.end

    settings = Settings.from_env(create_home=False)
    require_data(settings.herd_db_url)  # an empty home: one line, nothing created
    engine = make_engine(settings.herd_db_url)
    try:
        upgrade_herd_db(engine)
        frame = list_alerts(engine, start, end, args.use_case)
    finally:
        engine.dispose()
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    elif len(frame):
        print(frame.to_string(index=False))
    per = ", ".join(f"{k} {v}" for k, v in frame["use_case"].value_counts().sort_index().items()) or "none"
    span = f" from {_shown(args.start, 'the start')} to {_shown(args.end, 'now')}"
    print(f"smx alerts: {len(frame)} alerts{span} ({per})", file=sys.stderr)
    return 0


def _shown(ts: pd.Timestamp | None, default: str) -> str:
    if ts is None:
        return default
    return ts.strftime("%Y-%m-%d") if ts == ts.floor("D") else ts.strftime("%Y-%m-%dT%H:%MZ")
