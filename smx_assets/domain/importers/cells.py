"""The importer's rules for one cell: a number, a cow number. Cell by cell, no frames.

Why a module of its own: a value that is not read exactly as the file wrote it must never
become a silent NULL, and a cow number must name one animal, the same on SQLite and
PostgreSQL. Every reader of :mod:`formats` uses these rules, and the README states them.

Numbers (:func:`parse_numbers`)
-------------------------------
A value cell is empty (blank or only spaces: the reading lacks that signal), or a number
written ``[+-]digits[.digits][e[+-]digits]``, or, where the decimal comma applies,
``[+-]digits,digits``. The decimal comma applies to every column of a file whose delimiter is
``;`` (the European spreadsheet export), and to a column of any other file that is
consistently so formatted (some value has a decimal comma and none has a decimal point).
Anything else is ``malformed`` naming the column: ``12abc``, ``0x10``, ``inf``, ``nan``,
``1e400`` (overflows to infinity), ``1,5`` in a column that also has decimal points,
thousands separators (``1.234,5``, ``1,234.5``), a date or a boolean in a value column.
A number already typed by the file (a spreadsheet or Parquet cell) is taken as it is (an
infinite one is later ``out_of_range``, like any value out of its range).

Cow numbers (:func:`cow_number`)
--------------------------------
Unicode NFC (``é`` composed or decomposed is one cow), zero-width and other invisible
format characters (category Cf: U+200B, U+200C, U+200D, U+2060, U+FEFF, soft hyphen) removed,
surrounding white space (a trailing tab too) stripped, a spreadsheet's ``2131.0`` read as ``2131``. A NUL or any
other control character (a tab, a newline, U+0001...) is rejected, since it cannot be seen
and PostgreSQL refuses NUL in text. Longer than :data:`MAX_COW_NUMBER` characters is
rejected: it is never cut (two cut numbers would become one animal).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import numpy as np

MAX_COW_NUMBER = 64  # animals.cow_number is VARCHAR(64) since migration 0005
MAX_STATUS = 32  # animals.status

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_COMMA_NUMBER = re.compile(r"[+-]?\d*,\d+")
_INTEGER = re.compile(r"[+-]?\d+")


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaT, pd.NA, numpy NaN
    except (TypeError, ValueError):
        return False


def is_blank(values: list[Any]) -> np.ndarray:
    """Element-wise: the cell is empty (missing, or text of only white space)."""
    return np.fromiter((_is_blank(v) for v in values), dtype=bool, count=len(values))


def decimal_comma(values: list[Any], delimiter: str | None) -> bool:
    """Whether ``38,6`` means 38.6 in this column (the rule of the module docstring)."""
    if delimiter == ";":
        return True
    texts = [v.strip() for v in values if isinstance(v, str)]
    has_comma = any(_COMMA_NUMBER.fullmatch(t) for t in texts)
    return has_comma and not any("." in t for t in texts)


def _why(text: str) -> str:
    shown = text if len(text) <= 40 else text[:40] + "..."
    return f"not a number: {shown!r}"


def parse_number(value: Any, comma: bool) -> tuple[float, str | None]:
    """(the number, problem) of one cell: NaN and no problem for an empty cell."""
    if _is_blank(value):
        return np.nan, None
    if isinstance(value, (bool, np.bool_)):
        return np.nan, f"not a number: {value!r}"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), None
    if not isinstance(value, str):
        return np.nan, _why(str(value))
    text = value.strip()
    if _NUMBER.fullmatch(text):
        f = float(text)
    elif comma and _COMMA_NUMBER.fullmatch(text):
        f = float(text.replace(",", "."))
    else:
        return np.nan, _why(text)
    if not math.isfinite(f):
        return np.nan, f"not a finite number: {text!r}"
    return f, None


def parse_numbers(values: list[Any], comma: bool) -> tuple[np.ndarray, list[str | None]]:
    """(floats, problem per cell) by :func:`parse_number`."""
    pairs = [parse_number(v, comma) for v in values]
    return np.array([f for f, _ in pairs], dtype="float64"), [p for _, p in pairs]


def cow_number(value: Any) -> tuple[str | None, str | None]:
    """(the cow number as stored, problem): ``(None, None)`` for an empty cell."""
    if _is_blank(value):
        return None, None
    if isinstance(value, (bool, np.bool_)):
        return None, f"not a cow number: {value!r}"
    if isinstance(value, (int, np.integer)):
        return str(int(value)), None
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if f.is_integer():
            return str(int(f)), None
        return None, f"not a whole number: {value!r}"
    return cow_text(str(value))


def cow_text(raw: str) -> tuple[str | None, str | None]:
    """A cow number written as text, normalised (NFC, invisible characters out) or rejected."""
    text = unicodedata.normalize("NFC", raw).strip()
    for ch in text:
        if unicodedata.category(ch) == "Cc":
            name = "NUL" if ch == "\0" else f"U+{ord(ch):04X}"
            return None, f"control character {name} in the cow number"
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()  # "2131\u200b " is 2131
    if text.endswith(".0") and _INTEGER.fullmatch(text[:-2]):
        text = text[:-2]
    if not text:
        return None, None
    if len(text) > MAX_COW_NUMBER:
        return None, f"cow number of {len(text)} characters (at most {MAX_COW_NUMBER})"
    return text, None


def status_text(value: Any) -> tuple[str | None, str | None]:
    """A herd status as stored (trimmed), or the problem: a control character, too long."""
    if _is_blank(value):
        return None, None
    text = unicodedata.normalize("NFC", str(value)).strip()
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return None, "control character in the status"
    if len(text) > MAX_STATUS:
        return None, f"status of {len(text)} characters (at most {MAX_STATUS})"
    return text, None
