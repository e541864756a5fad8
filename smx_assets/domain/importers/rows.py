"""Row classification of an export: every data row is written or rejected with one reason.

Reasons, checked in this order (a row gets the first that applies):

``malformed``         a cell that is not what its column holds (``formats`` names the column
                      and the cell in ``problem``): a value that is not a number by the rules
                      of :mod:`cells` (``12abc``, ``0x10``, ``1e400``), a cow number with a
                      control character or longer than 64 characters, a line with more fields
                      than the header
``footer``            in a Heatime export, the cow's last row carrying no lactation number, no
                      days in lactation and no value: Heatime closes every cow's block with one
``malformed``         no cow number, a date/time that does not parse (or does not exist or is
                      ambiguous in the given time zone), an interval that is not a positive number
                      of minutes up to 1440 (a day)
``future``            a timestamp more than 5 minutes after the import's clock
``no_signal``         the file has no activity, temperature or pH column at all (some Heatime
                      exports carry only the vendor's heat index, which is never imported)
``cow_without_data``  the cow has no value in any of its rows of this file
``empty_activity``    this reading has no value (``empty_reading`` when the file has several signals)
``capped``            activity at the sensor's ceiling (Heatime 191): the true value is unknown
``out_of_range``      activity negative, infinite or above 10,000; temperature outside 28-44 °C;
                      pH outside 4-8 (the ranges of ``ingest_validation``)
``duplicate``         an identical repeat (same cow, time, interval and values) of a row kept
                      earlier, in this file, an earlier file of the import, or the store
``conflict``          same cow and time as a row kept earlier but different values: the first
                      copy stays, this one is kept here so the disagreement is visible

``duplicate`` and ``conflict`` against earlier files and the store are decided by the import
service (:mod:`smx_assets.domain.importers.service`); within a file, here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smx_assets.domain.importers.formats import ParsedFile
from smx_assets.domain.ingest_validation import ACTIVITY_RANGE, FUTURE_TOLERANCE, PH_RANGE, TEMP_RANGE_C

REASONS = ("footer", "malformed", "future", "no_signal", "cow_without_data", "empty_activity",
           "empty_reading", "capped", "out_of_range", "duplicate", "conflict")
SIGNALS = ("activity", "temp_c", "ph")


def same_values(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Row-wise equality of interval and signals (NaN equals NaN), for duplicate vs conflict."""
    eq = a["interval_s"].to_numpy() == b["interval_s"].to_numpy()
    for c in SIGNALS:
        x, y = a[c].to_numpy(dtype="float64"), b[c].to_numpy(dtype="float64")
        eq &= (x == y) | (np.isnan(x) & np.isnan(y))
    return eq


def classify(parsed: ParsedFile, now: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """(reason, detail) per row of ``parsed.rows``, same index: reason ``None`` = to be written;
    detail names the column and the problem of a ``malformed`` row (else ``None``)."""
    rows = parsed.rows
    n = len(rows)
    reason = np.full(n, None, dtype=object)
    detail = rows["problem"].to_numpy(dtype=object).copy()

    def mark(mask: np.ndarray, why: str) -> None:
        reason[(reason == None) & mask] = why  # noqa: E711 - elementwise on an object array

    def malformed(mask: np.ndarray, what: str) -> None:
        hit = (reason == None) & mask  # noqa: E711
        reason[hit] = "malformed"
        detail[hit] = what

    mark(pd.notna(detail), "malformed")

    values = rows[list(SIGNALS)].to_numpy(dtype="float64")
    no_value = np.isnan(values).all(axis=1)
    cow = rows["cow_number"]
    has_cow = cow.notna().to_numpy()
    last_of_cow = np.zeros(n, dtype=bool)
    if has_cow.any():
        idx = rows[has_cow].groupby(cow[has_cow], sort=False).tail(1).index
        last_of_cow[rows.index.get_indexer(idx)] = True
    # Heatime's closing row of a cow's block; in the open format such a row is malformed or empty
    footer = (parsed.file_format.startswith("heatime") & last_of_cow & rows["lactation_number"].isna().to_numpy()
              & rows["days_in_lactation"].isna().to_numpy() & no_value)
    mark(footer, "footer")
    ts_ok = rows["ts"].notna().to_numpy()
    cols = parsed.columns
    when = cols.get("timestamp") or f"{cols.get('date', 'date')}/{cols.get('time', 'time')}"
    malformed(~has_cow, f"{cols.get('cow_number', 'cow_number')}: empty")
    malformed(~ts_ok, f"{when}: empty, not a date and time, or not a time of the time zone")
    malformed(rows["interval_s"].to_numpy() <= 0, f"{cols.get('interval_minutes', 'interval_minutes')}: "
                                                   "empty, not positive, or over 1440 minutes")
    ts_ns = rows["ts"].astype("int64").to_numpy()
    mark(ts_ok & (ts_ns > (now + FUTURE_TOLERANCE).value), "future")
    if not parsed.signals:
        mark(np.ones(n, dtype=bool), "no_signal")
    alive = reason == None  # noqa: E711
    if alive.any():
        has_value = pd.Series(~no_value & alive).groupby(cow.fillna("").to_numpy()).transform("any").to_numpy()
        mark(alive & ~has_value, "cow_without_data")
    mark(no_value, "empty_activity" if parsed.signals == ("activity",) else "empty_reading")
    act, temp, ph = values[:, 0], values[:, 1], values[:, 2]
    if parsed.activity_cap is not None:
        with np.errstate(invalid="ignore"):
            mark(act >= parsed.activity_cap, "capped")
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values).any(axis=1)
        bad |= (act < ACTIVITY_RANGE[0]) | (act > ACTIVITY_RANGE[1])
        bad |= (temp < TEMP_RANGE_C[0]) | (temp > TEMP_RANGE_C[1])
        bad |= (ph < PH_RANGE[0]) | (ph > PH_RANGE[1])
    mark(bad, "out_of_range")
    # repeats inside the file: the first copy is kept
    alive = np.flatnonzero(reason == None)  # noqa: E711
    if len(alive) > 1:
        sub = rows.iloc[alive]
        key_dup = sub.duplicated(["cow_number", "ts"], keep="first").to_numpy()
        if key_dup.any():
            first = sub.drop_duplicates(["cow_number", "ts"], keep="first").set_index(["cow_number", "ts"])
            later = sub[key_dup]
            kept = first.loc[list(zip(later["cow_number"], later["ts"]))].reset_index()
            identical = same_values(later.reset_index(drop=True), kept)
            pos = alive[key_dup]
            reason[pos[identical]] = "duplicate"
            reason[pos[~identical]] = "conflict"
    detail[reason != "malformed"] = None
    return pd.Series(reason, index=rows.index, dtype=object), pd.Series(detail, index=rows.index, dtype=object)
