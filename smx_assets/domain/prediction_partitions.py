"""PostgreSQL day partitions of ``predictions``: created ahead and on demand, dropped by retention.

Migration 0003 makes ``predictions`` a ``PARTITION BY RANGE (bucket_start)`` table on
PostgreSQL, one partition per UTC day named ``predictions_pYYYYMMDD``. A row for a day without a
partition is refused by PostgreSQL, so:

* the retention job creates the next days ahead (:func:`ensure_partitions`), so the ten-minute
  writer normally finds its partition;
* the prediction writer still makes sure the days it writes exist (a retro-scoring run of last
  year, a test herd at fixed dates): one catalog query per new day and process, cached;
* retention drops the partitions of days past the retention period (:func:`drop_partitions_before`),
  a catalogue operation whatever the day's row count, instead of a ``DELETE`` scan.

Creators of partitions queue on a ``SHARE UPDATE EXCLUSIVE`` lock of the parent (two runs adding
the same day never race); dropping a day takes the prediction writer's per-day advisory lock
(``outputs._lock_window``), so it never drops a day under a writer of that day. SQLite has no partitions:
:func:`is_partitioned` is False there and callers delete rows instead.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import to_db_ts

PARENT = "predictions"
_NAME = re.compile(r"^predictions_p(\d{8})$")
LOCK_NAMESPACE = 0x534D5850  # the prediction writer's namespace: one lock per UTC day
_known: dict[str, set[dt.date]] = {}  # engine URL -> days known to have a partition
_partitioned: dict[str, bool] = {}
_lock = threading.Lock()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def day_lock(conn: sa.Connection, day: dt.date) -> None:
    key = (day - dt.date(1970, 1, 1)).days
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": LOCK_NAMESPACE, "key": key})


def is_partitioned(engine: Engine) -> bool:
    """True when ``predictions`` is a partitioned table (PostgreSQL after migration 0003)."""
    if engine.dialect.name != "postgresql":
        return False
    k = _key(engine)
    if k not in _partitioned:
        with engine.connect() as conn:
            kind = conn.execute(sa.text("SELECT relkind FROM pg_class WHERE relname = :n AND "
                                        "relnamespace = current_schema()::regnamespace"), {"n": PARENT}).scalar()
        _partitioned[k] = kind == "p"
    return _partitioned[k]


def partitions(engine: Engine) -> dict[dt.date, str]:
    """Day -> partition name of every existing day partition."""
    with engine.connect() as conn:
        names = conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :n"), {"n": PARENT}).scalars().all()
    out = {}
    for name in names:
        m = _NAME.match(name)
        if m:
            out[dt.datetime.strptime(m.group(1), "%Y%m%d").date()] = name
    return out


def partition_name(day: dt.date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def ensure_partitions(engine: Engine, days: Iterable[dt.date]) -> list[str]:
    """Create the day partitions of ``days`` that do not exist yet; returns the names created."""
    if not is_partitioned(engine):
        return []
    k = _key(engine)
    wanted = sorted(set(days))
    with _lock:
        known = _known.setdefault(k, set())
        if all(d in known for d in wanted):
            return []
        existing = set(partitions(engine))
        known |= existing
    created = []
    for day in wanted:
        if day in known:
            continue
        with engine.begin() as conn:
            # creators queue on the parent (this mode conflicts only with itself and stronger ones,
            # not with writers' row locks), so two runs adding the same day never race
            conn.execute(sa.text(f"LOCK TABLE {PARENT} IN SHARE UPDATE EXCLUSIVE MODE"))
            conn.execute(sa.text(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
                f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + dt.timedelta(days=1)).isoformat()}')"))
        created.append(partition_name(day))
        with _lock:
            known.add(day)
    return created


def window_days(start: pd.Timestamp, end: pd.Timestamp) -> list[dt.date]:
    """UTC days a half-open window ``[start, end)`` touches."""
    first = pd.Timestamp(to_db_ts(start)).floor("D")
    last = (pd.Timestamp(to_db_ts(end)) - pd.Timedelta(microseconds=1)).floor("D")
    return [d.date() for d in pd.date_range(first, max(first, last), freq="D")]


def drop_partitions_before(engine: Engine, cutoff: dt.date) -> list[tuple[str, int]]:
    """Drop every day partition of a day before ``cutoff``; returns (name, rows it held).

    Rows are counted before the drop (the planner's estimate for big partitions, where an exact
    count would scan the day the drop is there to avoid scanning)."""
    dropped = []
    for day, name in sorted(partitions(engine).items()):
        if day >= cutoff:
            continue
        with engine.begin() as conn:
            day_lock(conn, day)
            estimate = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE relname = :n"), {"n": name}).scalar()
            rows = int(estimate) if estimate is not None and estimate >= 1_000_000 else int(
                conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())
            conn.execute(sa.text(f"DROP TABLE {name}"))
        dropped.append((name, rows))
        with _lock:
            _known.get(_key(engine), set()).discard(day)
    return dropped
