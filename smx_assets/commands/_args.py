"""Argument types and the error rule shared by every ``smx`` command.

Arguments are checked by argparse before a command does any work, and a bad one is answered
with one line — what was wrong and what is allowed — and exit status 2. Errors raised while a
command runs are one line too (exit status 1), with any credentials masked; ``--verbose`` adds
the (masked) traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

EARLIEST_DAY = dt.date(2000, 1, 1)  # sensor data of this kind does not exist before


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``smx demo: --animals: ...``."""

    def error(self, message: str) -> NoReturn:  # type: ignore[name-defined]  # noqa: F821
        from smx_assets.domain.redaction import redact

        print(f"{self.prog}: {redact(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class UserError(Exception):
    """A problem the person running the command can fix; printed as one line, exit 1."""


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi]."""
    allowed = f"a whole number >= {lo}" if hi is None else f"a whole number from {lo} to {hi}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is not allowed: use {allowed}")
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
