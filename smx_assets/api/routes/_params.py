"""Parameters shared by the routes: times, ranges and the limits that keep any request small."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from smx_assets.api.errors import bad_input

EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
MAX_PAGE = 1000  # alerts per page
DEFAULT_PAGE = 100
MAX_ALERT_RANGE = pd.Timedelta(days=366)  # GET /v1/alerts from..to
MAX_SCORE_RANGE = pd.Timedelta(days=31)  # GET /v1/scores from..to (one cow: 4,464 buckets per use case)
DEFAULT_SCORE_RANGE = pd.Timedelta(days=7)
MAX_TEXT = 64  # a farm name, a cow number, a use case


def parse_time(text: str | None, name: str) -> pd.Timestamp | None:
    """An ISO 8601 day or time, UTC unless it names an offset; 422 naming ``name`` otherwise."""
    if text is None or text == "":
        return None
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise bad_input(f"{name}: {text!r} is not a date or time (use e.g. 2026-09-07 or 2026-09-07T06:00Z)") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts < EARLIEST:
        raise bad_input(f"{name}: {text} is before {EARLIEST:%Y-%m-%d}")
    return ts


def check_range(start: pd.Timestamp | None, end: pd.Timestamp | None, longest: pd.Timedelta) -> None:
    if start is not None and end is not None:
        if end <= start:
            raise bad_input(f"to ({end:%Y-%m-%dT%H:%M}Z) must be after from ({start:%Y-%m-%dT%H:%M}Z)")
        if end - start > longest:
            raise bad_input(f"from..to spans {(end - start) / pd.Timedelta(days=1):.1f} days: at most "
                            f"{longest.days} days per request")
