"""Bit-for-bit comparison of a stored feature vector with a recomputed one.

"The same number" means the same float64 bits: a replay that agrees to 1e-12 still says that
something in the path changed (a summation order, a library, a reading), which is exactly what a
replay is there to notice. Missing values compare equal to each other whatever their form: the
alert row stores a missing feature as JSON ``null``, the Parquet vector as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ColumnDiff:
    """One column whose stored and replayed values differ."""

    column: str
    stored: Any
    replayed: Any
    delta: float | None  # replayed - stored, when both are numbers

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "stored": _plain(self.stored), "replayed": _plain(self.replayed),
                "delta": self.delta}


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)):
        return float(value)
    return None


def same_value(stored: Any, replayed: Any) -> bool:
    """Equal bit for bit (numbers as float64), or both missing."""
    if _missing(stored) or _missing(replayed):
        return _missing(stored) and _missing(replayed)
    a, b = _number(stored), _number(replayed)
    if a is not None and b is not None:
        return bool(np.float64(a).view(np.int64) == np.float64(b).view(np.int64))
    if isinstance(stored, (pd.Timestamp, np.datetime64)) or isinstance(replayed, (pd.Timestamp, np.datetime64)):
        try:
            return pd.Timestamp(stored) == pd.Timestamp(replayed)
        except (TypeError, ValueError):
            return False
    return stored == replayed


def compare_vectors(stored: Mapping[str, Any], replayed: Mapping[str, Any],
                    columns: Iterable[str] | None = None) -> list[ColumnDiff]:
    """The columns (default: every column of either side) whose values differ; a column only one
    side has is a difference too (the stored vector's layout changed)."""
    cols = list(columns) if columns is not None else list(dict.fromkeys([*stored, *replayed]))
    out = []
    for c in cols:
        s = stored.get(c, _ABSENT)
        r = replayed.get(c, _ABSENT)
        if s is _ABSENT or r is _ABSENT:
            out.append(ColumnDiff(c, "absent" if s is _ABSENT else s, "absent" if r is _ABSENT else r, None))
            continue
        if not same_value(s, r):
            a, b = _number(s), _number(r)
            delta = None if a is None or b is None or _missing(s) or _missing(r) else b - a
            out.append(ColumnDiff(c, s, r, delta))
    return out


_ABSENT = object()


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a compared value (NaN as None, numpy scalars as Python)."""
    if _missing(value):
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    return value


__all__ = ["ColumnDiff", "compare_vectors", "same_value"]
