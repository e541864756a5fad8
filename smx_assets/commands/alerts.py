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


# An alert's place in the listing order (bucket, farm, animal, id): a page's cursor is its last row's.
AlertKey = tuple[pd.Timestamp, str, int, int]


def alert_rows(engine: sa.Engine, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
               use_case: str | None = None, *, farm: str | None = None, after: AlertKey | None = None,
               limit: int | None = None) -> pd.DataFrame:
    """The alerts in ``[start, end)`` (of one use case / farm), oldest first, ordered by bucket,
    farm, animal and id; ``after``: only those past that key, ``limit``: at most that many.

    The one query behind ``smx alerts`` and the API's ``GET /v1/alerts`` (keyset pages): columns
    ``alert_id``, ``farm``, ``cow_number`` (the farm's number, else the ear tag), ``animal_id``,
    ``bucket_start`` (aware UTC), ``use_case``, ``model``, ``version``, ``score`` (full precision).
    Bound, typed parameters only: the herd DB compares its own timestamp spelling.
    """
    from smx_assets.domain.herd_db import Alert, Animal, Farm, from_db_ts, to_db_ts

    al, an, f = Alert.__table__, Animal.__table__, Farm.__table__
    q = (sa.select(al.c.id, f.c.name, sa.func.coalesce(an.c.cow_number, an.c.ear_tag), an.c.id, al.c.bucket_start,
                   al.c.use_case, al.c.model_name, al.c.model_version, al.c.score)
         .select_from(al.join(an, an.c.id == al.c.animal_id).join(f, f.c.id == an.c.farm_id)))
    if start is not None:
        q = q.where(al.c.bucket_start >= to_db_ts(start))
    if end is not None:
        q = q.where(al.c.bucket_start < to_db_ts(end))
    if use_case:
        q = q.where(al.c.use_case == use_case)
    if farm is not None:
        q = q.where(f.c.name == farm)
    if after is not None:
        b, name, animal, alert_id = after
        q = q.where(sa.tuple_(al.c.bucket_start, f.c.name, an.c.id, al.c.id)
                    > sa.tuple_(sa.literal(to_db_ts(b), sa.DateTime()), sa.literal(name, sa.String()),
                                sa.literal(int(animal), sa.Integer()), sa.literal(int(alert_id), sa.Integer())))
    q = q.order_by(al.c.bucket_start, f.c.name, an.c.id, al.c.id)
    if limit is not None:
        q = q.limit(int(limit))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    frame = pd.DataFrame(rows, columns=["alert_id", "farm", "cow_number", "animal_id", "bucket_start", "use_case",
                                        "model", "version", "score"])
    frame["bucket_start"] = [from_db_ts(b) for b in frame["bucket_start"]]
    frame["score"] = frame["score"].astype(float)
    return frame


def alert_time(bucket_start: pd.Timestamp) -> str:
    """How an alert's time is written (CSV, API): its bucket start, UTC, ISO 8601."""
    return pd.Timestamp(bucket_start).strftime("%Y-%m-%dT%H:%M:%SZ")


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
