"""Reading export files into one canonical frame: SCR Heatime spreadsheets and the open long format.

Pure pandas, no store and no Dagster: :func:`read_export` turns one file into a
:class:`ParsedFile` whose ``rows`` frame has one row per data row of the file (nothing dropped
here; every row is classified later by ``rows.classify``) with these columns:

``row``               1-based data-row number in the file (for the rejection record)
``cow_number``        the farm's own number, as text ("2131"), or missing
``ts``                start of the interval the reading summarises, UTC, or NaT
``interval_s``        seconds the reading summarises (7200 for Heatime, given in the long format)
``activity``, ``temp_c``, ``ph``   float, NaN when absent
``lactation_number``, ``days_in_lactation``  float, NaN when absent
``status``            herd status text (Heatime ``Lactation Status``) or missing
``breeding_date``     last insemination (date, local midnight as UTC) or NaT
``problem``           why the row is ``malformed``, naming the column (``temperature_c: not a
                      number: '12abc'``), or missing: every cell is read by the rules of
                      :mod:`cells`, never coerced to a blank
plus ``ParsedFile.source``: the file's rows as read (the answer key removed), from which a
rejected row's payload is made (:func:`raw_records`)

Formats
-------
SCR Heatime ``.xlsx``/``.xls`` exports, English or German headers (``HEATIME_HEADERS``): one
row per cow every 2 hours; ``Date`` plus ``Time`` (``12:00 AM``, ``00:00``, Excel times) is
the start of the 2-hour slot (the export's last midnight slot is the one still empty when the
export was made). ``Raw Activity Data`` is the activity; ``Activity Change`` (the vendor's heat
index, the answer key of the reference heats) is never read. Values at the sensor's ceiling
(``HEATIME_ACTIVITY_CAP``) are marked capped: the true activity is unknown.

The open long format (``.csv``/``.txt``/``.tsv`` with a header, or ``.parquet``), for any
other vendor; columns (case-insensitive, any order; every signal column optional but at
least one present):

``cow_number``        required, the farm's own animal number
``timestamp``         required, ISO 8601; with an offset it is taken as given, naive is local
                      time of ``--timezone`` (UTC by default)
``interval_minutes``  optional, default 10 (what one reading summarises, from ``timestamp``)
``activity``, ``temperature_c``, ``ph``   optional signals
``lactation_number``, ``days_in_lactation``, ``status``, ``breeding_date``  optional herd columns

Failures that make a whole file unusable raise :class:`FileRejected` with a reason code
(``zero_byte``, ``empty_file``, ``unreadable``, ``wrong_layout``, ``unsupported_format``) and
a one-line message naming what is wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smx_assets.domain.importers import cells
from smx_assets.domain.json_values import json_safe

HEATIME_INTERVAL_S = 7200
MAX_INTERVAL_MINUTES = 1440.0  # interval_minutes above a day is malformed
HEATIME_ACTIVITY_CAP = 191.0  # the collar's raw activity count per 2 h saturates at 191
SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".xlsb", ".ods")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = SPREADSHEET_SUFFIXES + TEXT_SUFFIXES + PARQUET_SUFFIXES

ROW_COLUMNS = ["row", "cow_number", "ts", "interval_s", "activity", "temp_c", "ph", "lactation_number",
               "days_in_lactation", "status", "breeding_date", "problem"]
# a data row whose field count differs from the header's (python csv engine's bad line)
_BAD_LINE = "\0smx-bad-line-"


def _key(name: object) -> str:
    """Header normalised for matching: case-folded, accents and punctuation dropped."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", text.casefold()).strip()


# canonical name -> header spellings seen in Heatime exports (English, German)
HEATIME_HEADERS: dict[str, tuple[str, ...]] = {
    "cow_number": ("Cow Number", "Kuhnummer", "Kuh Nummer"),
    "date": ("Date", "Termin", "Datum"),
    "time": ("Time", "Zeit", "Uhrzeit"),
    "activity": ("Raw Activity Data", "Rohe Aktivitätsdaten", "Rohaktivitätsdaten", "Aktivität Rohdaten",
                 "Rohdaten Aktivität"),
    "lactation_number": ("Lactation Number", "Laktationnummer", "Laktationsnummer"),
    "days_in_lactation": ("Days in Lactation", "Laktationstage"),
    "status": ("Lactation Status", "Laktationsstatus"),
    "breeding_date": ("Effective Breeding Date", "Effektives Besamungsdatum", "Besamungsdatum"),
}
# the answer key (SCR's heat index): recognised so it is never mistaken for activity, never read
HEATIME_ANSWER_KEY = ("Activity Change", "Aktivität ändern", "Aktivitätsänderung")

LONG_HEADERS: dict[str, tuple[str, ...]] = {
    "cow_number": ("cow_number", "animal_number", "cow"),
    "timestamp": ("timestamp", "ts", "time"),
    "interval_minutes": ("interval_minutes",),
    "activity": ("activity",),
    "temp_c": ("temperature_c", "temperature", "temp_c"),
    "ph": ("ph",),
    "lactation_number": ("lactation_number",),
    "days_in_lactation": ("days_in_lactation",),
    "status": ("status",),
    "breeding_date": ("breeding_date",),
}


class FileRejected(Exception):
    """The whole file cannot be imported; ``reason`` is a code, the message says why."""

    def __init__(self, reason: str, message: str, rows: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.rows = rows  # data rows the file had (counted as read and rejected), 0 if unknown


@dataclass
class ParsedFile:
    path: Path
    file_format: str  # heatime_xlsx | heatime_xls | long_csv | long_parquet
    rows: pd.DataFrame  # ROW_COLUMNS
    source: pd.DataFrame  # the rows as the file had them, same index (answer key removed)
    signals: tuple[str, ...]  # signal columns the file has: activity, temp_c, ph
    activity_cap: float | None  # the sensor's ceiling, when the format has one
    columns: dict[str, str]  # canonical name -> the file's header, for the columns found


# ------------------------------------------------------------------------- helpers


def raw_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts (ISO dates, None for blanks), through pandas' C JSON writer."""
    if len(frame) == 0:
        return []
    safe = frame.copy()
    safe.columns = [str(c) for c in safe.columns]
    for c in safe.columns:
        if safe[c].dtype == object:
            safe[c] = safe[c].map(lambda v: json_safe(v, max_text=200))
    return json.loads(safe.to_json(orient="records", date_format="iso", date_unit="s"))


def _match(columns: list[object], spellings: dict[str, tuple[str, ...]]) -> dict[str, object]:
    by_key = {_key(c): c for c in columns}
    found: dict[str, object] = {}
    for canonical, names in spellings.items():
        for name in names:
            if _key(name) in by_key:
                found[canonical] = by_key[_key(name)]
                break
    return found


class _Problems:
    """The first problem of each row, as ``<file's column>: <why>`` (the row is then malformed)."""

    def __init__(self, n: int) -> None:
        self.text: list[str | None] = [None] * n

    def add(self, column: object, problems: list[str | None]) -> None:
        for i, why in enumerate(problems):
            if why is not None and self.text[i] is None:
                self.text[i] = f"{column}: {why}"

    def series(self) -> pd.Series:
        return pd.Series(self.text, dtype=object)


def _per_distinct(col: pd.Series, rule: Callable[[Any], tuple[Any, str | None]]) -> tuple[list[Any], list[str | None]]:
    """``rule`` applied once per distinct cell (an export repeats its cow numbers and values:
    1,000,000 temperatures as text take 0.25 s this way, 2.4 s cell by cell); missing cells as ``rule(None)``."""
    codes, uniques = pd.factorize(col.astype(object).to_numpy(), use_na_sentinel=True)
    done = [rule(u) for u in uniques] + [rule(None)]  # code -1 (missing) takes the last entry
    values, why = np.empty(len(done), dtype=object), np.empty(len(done), dtype=object)
    values[:], why[:] = [v for v, _ in done], [w for _, w in done]
    return values[codes].tolist(), why[codes].tolist()


def _cow_numbers(col: pd.Series, problems: _Problems) -> pd.Series:
    """Cow numbers as text by :func:`cells.cow_number` (2131.0 -> "2131", NFC, never cut)."""
    out, why = _per_distinct(col, cells.cow_number)
    problems.add(col.name, why)
    return pd.Series(out, dtype=object)


def _numbers(col: pd.Series | None, n: int, problems: _Problems, delimiter: str | None = None) -> np.ndarray:
    """A value column by :func:`cells.parse_number`: empty -> NaN, anything else a number or a problem."""
    if col is None:
        return np.full(n, np.nan)
    distinct = pd.unique(col.astype(object).to_numpy()).tolist()
    comma = cells.decimal_comma(distinct, delimiter)
    out, why = _per_distinct(col, lambda v: cells.parse_number(v, comma))
    problems.add(col.name, why)
    return np.array(out, dtype="float64")


def _statuses(col: pd.Series | None, n: int, problems: _Problems) -> pd.Series:
    if col is None:
        return pd.Series([None] * n, dtype=object)
    out, why = _per_distinct(col, cells.status_text)
    problems.add(col.name, why)
    return pd.Series(out, dtype=object)


def _time_of_day(value: Any) -> pd.Timedelta | None:
    """Excel times arrive as ``datetime.time``, strings (``12:00 AM``, ``00:00``), floats (day share)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.time):
        return pd.Timedelta(hours=value.hour, minutes=value.minute, seconds=value.second)
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return pd.Timedelta(hours=value.hour, minutes=value.minute, seconds=value.second)
    if isinstance(value, dt.timedelta):
        return pd.Timedelta(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        return pd.Timedelta(seconds=round(f * 86400)) if 0 <= f < 1 else None
    text = str(value).strip().upper()
    for fmt in ("%I:%M %p", "%I:%M:%S %p", "%H:%M", "%H:%M:%S", "%I %p"):
        try:
            t = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return pd.Timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)
    return None


def _dates(col: pd.Series | None, n: int) -> pd.Series:
    """Calendar dates (naive midnight) or NaT."""
    if col is None:
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col
    else:
        out = pd.to_datetime(col.map(lambda v: v if isinstance(v, (str, dt.date, dt.datetime)) else None),
                             errors="coerce", format="mixed", dayfirst=False)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.dt.normalize().reset_index(drop=True).astype("datetime64[ns]")


def localize(naive: pd.Series, timezone: str) -> pd.Series:
    """Naive local times to UTC; a time that does not exist or is ambiguous (DST) becomes NaT."""
    naive = pd.to_datetime(naive).astype("datetime64[ns]")
    if timezone.upper() == "UTC":
        return naive.dt.tz_localize("UTC")
    return naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")


# -------------------------------------------------------------------------- readers


def read_export(path: str | Path, timezone: str = "UTC") -> ParsedFile:
    """Read one export file (format by suffix); raises :class:`FileRejected` when unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRejected("unreadable", f"cannot open: {exc.strerror or exc}") from exc
    if size == 0:
        raise FileRejected("zero_byte", "the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        return _read_heatime(path, timezone)
    if suffix in TEXT_SUFFIXES + PARQUET_SUFFIXES:
        return _read_long(path, timezone)
    raise FileRejected("unsupported_format",
                       f"unsupported file type {suffix or '(none)'}: expected one of {', '.join(SUPPORTED_SUFFIXES)}")


def _read_heatime(path: Path, timezone: str) -> ParsedFile:
    try:
        sheets = pd.read_excel(path, engine="calamine", sheet_name=None)
    except Exception as exc:  # noqa: BLE001 - the reader's many error types all mean "unreadable"
        raise FileRejected("unreadable", f"not a readable spreadsheet ({type(exc).__name__}: "
                                         f"{str(exc).splitlines()[0][:120] if str(exc) else 'no detail'})") from exc
    frames = [f for f in sheets.values() if len(f.columns)]
    if not frames or all(len(f) == 0 for f in frames):
        raise FileRejected("empty_file", "the spreadsheet has no data rows")
    # the first sheet that has the Heatime key columns; else the layout is wrong
    for frame in frames:
        cols = _match(list(frame.columns), HEATIME_HEADERS)
        if {"cow_number", "date", "time"} <= set(cols):
            break
    else:
        frame = max(frames, key=len)
        shown = ", ".join(str(c) for c in list(frame.columns)[:8])
        raise FileRejected("wrong_layout", f"no Cow Number/Date/Time columns (English or German Heatime "
                                           f"headers); found: {shown}", rows=len(frame))
    frame = frame.reset_index(drop=True)
    if len(frame) == 0:
        raise FileRejected("empty_file", "the spreadsheet has headers but no data rows")
    n = len(frame)
    problems = _Problems(n)
    day = _dates(frame[cols["date"]], n)
    times = frame[cols["time"]]
    # an export has a dozen distinct times: parse each once (strptime is ~60 us a call)
    parsed_times = {v: _time_of_day(v) for v in pd.unique(times.astype(object))}
    tod = times.astype(object).map(parsed_times)
    local = day + pd.to_timedelta(tod.astype(object).where(tod.notna(), pd.NaT))
    ts = localize(local, timezone)
    rows = pd.DataFrame({
        "row": np.arange(1, n + 1),
        "cow_number": _cow_numbers(frame[cols["cow_number"]], problems),
        "ts": ts.reset_index(drop=True),
        "interval_s": np.full(n, HEATIME_INTERVAL_S, dtype="int64"),
        "activity": _numbers(frame[cols["activity"]] if "activity" in cols else None, n, problems),
        "temp_c": np.full(n, np.nan),
        "ph": np.full(n, np.nan),
        "lactation_number": _numbers(frame[cols["lactation_number"]] if "lactation_number" in cols else None, n,
                                     problems),
        "days_in_lactation": _numbers(frame[cols["days_in_lactation"]] if "days_in_lactation" in cols else None, n,
                                      problems),
        "status": _statuses(frame[cols["status"]] if "status" in cols else None, n, problems),
        "breeding_date": localize(_dates(frame[cols["breeding_date"]] if "breeding_date" in cols else None, n),
                                  timezone),
        "problem": problems.series(),
    })
    answer_key = [c for c in frame.columns if _key(c) in {_key(a) for a in HEATIME_ANSWER_KEY}]
    signals = ("activity",) if "activity" in cols else ()
    kind = "heatime_xls" if path.suffix.lower() == ".xls" else "heatime_xlsx"
    # the source rows for rejections, without the answer key: nothing downstream may see it
    return ParsedFile(path=path, file_format=kind, rows=rows[ROW_COLUMNS], source=frame.drop(columns=answer_key),
                      signals=signals, activity_cap=HEATIME_ACTIVITY_CAP, columns={k: str(v) for k, v in cols.items()})


def _read_long(path: Path, timezone: str) -> ParsedFile:
    suffix = path.suffix.lower()
    delimiter: str | None = None
    bad_lines: list[list[str]] = []
    try:
        if suffix in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
            kind = "long_parquet"
        else:
            delimiter = _sniff_delimiter(path)
            frame = _read_csv(path, delimiter, bad_lines)
            kind = "long_csv"
    except pd.errors.EmptyDataError as exc:
        raise FileRejected("empty_file", "the file has no header and no rows") from exc
    except Exception as exc:  # noqa: BLE001 - parquet/csv readers raise many types
        raise FileRejected("unreadable", f"not a readable {suffix[1:]} file ({type(exc).__name__}: "
                                         f"{str(exc).splitlines()[0][:120] if str(exc) else 'no detail'})") from exc
    cols = _match(list(frame.columns), LONG_HEADERS)
    signal_cols = [s for s in ("activity", "temp_c", "ph") if s in cols]
    if not {"cow_number", "timestamp"} <= set(cols) or not signal_cols:
        shown = ", ".join(str(c) for c in list(frame.columns)[:8])
        raise FileRejected("wrong_layout", "the long format needs cow_number, timestamp and at least one of "
                                           f"activity, temperature_c, ph; found: {shown}", rows=len(frame))
    frame = frame.reset_index(drop=True)
    n = len(frame)
    if n == 0:
        raise FileRejected("empty_file", "the file has headers but no data rows")
    problems = _Problems(n)
    if bad_lines:
        # a line with more fields than the header: the row is kept (malformed), its fields as read
        first = frame.columns[0]
        marked = frame[first].astype(str).str.startswith(_BAD_LINE, na=False).to_numpy()
        header = len(frame.columns)
        problems.add("row", [f"{len(bad_lines[int(v[len(_BAD_LINE):])])} fields where the header has {header}"
                             if m else None for v, m in zip(frame[first].tolist(), marked)])
        frame[first] = frame[first].astype(object)
        for i in np.flatnonzero(marked):
            frame.iat[int(i), 0] = delimiter.join(bad_lines[int(str(frame.iat[int(i), 0])[len(_BAD_LINE):])])  # type: ignore[union-attr]
    ts = _long_timestamps(frame[cols["timestamp"]], timezone)

    def numbers(name: str) -> np.ndarray:
        return _numbers(frame[cols[name]] if name in cols else None, n, problems, delimiter)

    minutes = numbers("interval_minutes") if "interval_minutes" in cols else np.full(n, 10.0)
    # at most a day: a longer "interval" is no sensor's, and the store keeps seconds as a 32-bit integer
    with np.errstate(invalid="ignore"):
        fits = np.isfinite(minutes) & (minutes > 0) & (minutes <= MAX_INTERVAL_MINUTES)
    interval = np.where(fits, np.round(np.where(fits, minutes, 0) * 60), -1).astype("int64")
    breeding = (_long_timestamps(frame[cols["breeding_date"]], timezone) if "breeding_date" in cols
                else pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"))
    rows = pd.DataFrame({
        "row": np.arange(1, n + 1),
        "cow_number": _cow_numbers(frame[cols["cow_number"]], problems),
        "ts": ts,
        "interval_s": interval,
        "activity": numbers("activity"),
        "temp_c": numbers("temp_c"),
        "ph": numbers("ph"),
        "lactation_number": numbers("lactation_number"),
        "days_in_lactation": numbers("days_in_lactation"),
        "status": _statuses(frame[cols["status"]] if "status" in cols else None, n, problems),
        "breeding_date": breeding.dt.floor("D") if "breeding_date" in cols else breeding,
        "problem": problems.series(),
    })
    # a malformed interval must not silently become 10 minutes: it stays -1 and the row is rejected
    return ParsedFile(path=path, file_format=kind, rows=rows[ROW_COLUMNS], source=frame,
                      signals=tuple(signal_cols), activity_cap=None, columns={k: str(v) for k, v in cols.items()})


def _sniff_delimiter(path: Path) -> str:
    """The delimiter of a text export, sniffed from its header line as pandas does (``sep=None``).

    Known here (not only inside pandas) because it decides the decimal comma: a ``;`` file is a
    European spreadsheet export, where ``38,6`` is 38.6.
    """
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        first = fh.readline(1 << 20)
    if not first.strip():
        raise pd.errors.EmptyDataError("no header line")
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","  # one column (or no delimiter found): the layout check names what is missing


def _read_csv(path: Path, delimiter: str, bad_lines: list[list[str]]) -> pd.DataFrame:
    """Every cell as text; a line with too many fields is kept as a marked row (no row is lost)."""
    def keep(fields: list[str]) -> list[str]:
        bad_lines.append(fields)
        return [f"{_BAD_LINE}{len(bad_lines) - 1}"]

    return pd.read_csv(path, sep=delimiter, engine="python", dtype=str, keep_default_na=False, na_values=[""],
                       skipinitialspace=True, on_bad_lines=keep)


def _long_timestamps(col: pd.Series, timezone: str) -> pd.Series:
    """ISO 8601 text (or parquet datetimes) to UTC; offsets honoured, naive values are local."""
    n = len(col)
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            return col.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").reset_index(drop=True)
        return localize(col.reset_index(drop=True), timezone)
    text = col.astype("string").str.strip()
    has_offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False).to_numpy()
    # through int64 nanoseconds: assigning an all-NaT part into a tz-aware series would turn
    # it into objects (and NaN), which no comparison downstream survives
    ns = np.full(n, np.iinfo("int64").min, dtype="int64")
    if has_offset.any():
        part = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
        ns[has_offset] = part.astype("datetime64[ns, UTC]").array.asi8
    naive = ~has_offset & text.notna().to_numpy()
    if naive.any():
        parsed = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
        ns[naive] = localize(parsed.reset_index(drop=True), timezone).astype("datetime64[ns, UTC]").array.asi8
    return pd.Series(pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC"), index=range(n))
