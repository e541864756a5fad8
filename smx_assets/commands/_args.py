"""Argument types and the error rule shared by every ``smx`` command: the one home of
argument checking.

Arguments are checked by argparse before a command does any work, and a bad one is answered
with one line — what was wrong and what is allowed — and exit status 2: numbers in range (ids
too: a 20-digit alert id is refused here, not an ``OverflowError`` in the database driver),
days and times from 2000 on, use cases against the catalog, store URLs by the settings' own
checks. What argparse cannot see alone (a range's order, a range in the future) is checked by
:func:`ordered_days` / :func:`ordered_times` at the top of the command, raising
:class:`BadArgument` (exit status 2 too). Errors raised while a command runs are one line
(exit status 1), with any credentials masked; ``--verbose`` adds the (masked) traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

EARLIEST_DAY = dt.date(2000, 1, 1)  # sensor data of this kind does not exist before
MAX_ID = 2**63 - 1  # the largest id (and count) a BIGINT, SQLite's INTEGER and numpy's int64 hold


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``smx demo: --animals: ...``."""

    def error(self, message: str) -> NoReturn:  # type: ignore[name-defined]  # noqa: F821
        from smx_assets.domain.redaction import redact

        print(f"{self.prog}: {redact(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class UserError(Exception):
    """A problem the person running the command can fix; printed as one line, exit 1."""


class BadArgument(UserError):
    """An argument that cannot be used, found before any work (one line, exit 2 like argparse's)."""


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] (no ``hi``: up to :data:`MAX_ID`, what the
    stores can hold; the message keeps saying ``>= lo``, the bound people need)."""
    allowed = f"a whole number >= {lo}" if hi is None else f"a whole number from {lo} to {hi}"
    hi_check = MAX_ID if hi is None else hi

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if value < lo or value > hi_check:
            shown = value if len(str(value)) <= 30 else f"{str(value)[:12]}...({len(str(value))} digits)"
            limit = f" up to {hi_check}" if hi is None and value > hi_check else ""
            raise argparse.ArgumentTypeError(f"{shown} is not allowed: use {allowed}{limit}")
        return value

    parse.__name__ = "int"
    return parse


def iso_day(text: str) -> dt.date:
    """An argparse type: a calendar day ``YYYY-MM-DD`` from 2000 on."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-05") from None
    if day < EARLIEST_DAY:
        raise argparse.ArgumentTypeError(f"{text} is before {EARLIEST_DAY}: use a later day")
    return day


def utc_time(text: str) -> pd.Timestamp:
    """An argparse type: an ISO 8601 day or time, read as UTC when it names no offset."""
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        ts = pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC unless an offset is given)") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts < pd.Timestamp(EARLIEST_DAY, tz="UTC"):
        raise argparse.ArgumentTypeError(f"{text} is before {EARLIEST_DAY}: use a later time")
    return ts


def use_case_name(text: str) -> str:
    """An argparse type: a use case of the catalog (``heat``, ``calving``, ``fever``)."""
    from smx_assets.domain.use_cases.catalog import all_use_cases

    known = sorted(uc.name for uc in all_use_cases())
    if text not in known:
        raise argparse.ArgumentTypeError(f"unknown use case {text!r}: use one of {', '.join(known)}")
    return text


def use_case_or_model(text: str) -> str:
    """An argparse type: a catalog use case, or a registered model name ``smx-...``."""
    if text.startswith("smx-") and len(text) > len("smx-"):
        return text
    try:
        return use_case_name(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} or a registered model name smx-...") from None


def setting_value(name: str) -> Callable[[str], str]:
    """An argparse type checking a value as the setting ``name`` would be (``--tracking-uri`` as
    ``MLFLOW_TRACKING_URI``, ``--url`` as ``SMX_HERD_DB_URL``): one rule for both ways in."""
    def parse(text: str) -> str:
        from smx_assets.settings import BY_NAME, _mask_url

        row = BY_NAME[name]
        try:
            return row.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{_mask_url(text)!r} is not allowed ({exc}): expected {row.allowed}") from None

    parse.__name__ = name
    return parse


def ordered_days(first: dt.date, last: dt.date, first_flag: str = "--from", last_flag: str = "--to") -> None:
    """Raise :class:`BadArgument` unless ``first <= last`` (both days inclusive) and ``first``
    is not after today (UTC): no store holds readings of a day to come."""
    if last < first:
        raise BadArgument(f"{last_flag} {last} is before {first_flag} {first}: give the earlier day first")
    today = dt.datetime.now(dt.timezone.utc).date()
    if first > today:
        raise BadArgument(f"{first_flag} {first} is after today ({today}): only past buckets can be scored")


def ordered_times(start: pd.Timestamp | None, end: pd.Timestamp | None, start_flag: str = "--from",
                  end_flag: str = "--to") -> None:
    """Raise :class:`BadArgument` unless ``start < end`` (``end`` exclusive) when both are given."""
    if start is not None and end is not None and end <= start:
        raise BadArgument(f"{end_flag} {end:%Y-%m-%d %H:%M} is not after {start_flag} {start:%Y-%m-%d %H:%M} "
                          "(UTC; --to is exclusive): give the earlier time first")


NOTHING_HERE = "nothing here yet: run smx demo or smx import"


def require_data(herd_db_url: str) -> None:
    """Raise :class:`UserError` (:data:`NOTHING_HERE`) when the herd DB holds no platform data.

    Checked without creating anything: a SQLite file that does not exist is not opened
    (SQLite would create it), and a server database is only inspected.
    """
    import sqlalchemy as sa

    from smx_assets.domain.redaction import normalise_url

    url = sa.make_url(normalise_url(herd_db_url))
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:" or not Path(path).is_file():
            raise UserError(NOTHING_HERE)
    from smx_assets.domain.sql_engine import make_engine

    engine = make_engine(herd_db_url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alerts"):
                raise UserError(NOTHING_HERE)
    finally:
        engine.dispose()
