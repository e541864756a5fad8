"""Ingestion validation: every raw reading is either written or rejected with a reason.

Nothing is dropped silently. A raw batch (whatever a gateway or the simulator delivered: ids
and values may be strings, NaN, garbage) is split vectorised into

* ``valid``: the sensor-store frame format (see ``sensor_store/base.py``) plus ``received_at``;
* ``rejected``: ``entity_ref``, ``ts_raw``, ``reason``, ``payload`` (the raw row as a
  JSON-safe dict), stored in the herd DB's ``rejected_readings`` table.

Reasons, checked in this order (a row gets the first that applies):

``malformed``
    id not an integer, timestamp unparseable or missing, not written as ISO 8601 (``now``,
    ``today`` and bare digits such as ``20261105`` are refused: pandas would read them as the
    parse time or a guessed date), or before 2000-01-01 (no bolus data exists from then: a
    zeroed clock or an epoch default), a value that is not a number
    (strings), a missing temperature or activity (only pH may be missing: 90% of boluses
    have no pH sensor), an unparseable ``received_at``.
``out_of_range``
    reticulorumen temperature outside [28, 44] °C: normal is about 39 °C, drinking drops it
    by up to about 8 °C (lowest plausible about 30 °C, 28 leaves margin for very cold water),
    severe fever reaches about 42 °C. This rejects the known 0.0 °C and 98.98 °C artefacts
    while keeping every drinking drop (which the feature code removes on purpose, it must
    see them). pH outside [4, 8] (acidosis dips to about 5; exports show artefacts up to 26).
    Activity negative, infinite or above 10,000 (the index is about 5-200: a heat triples a
    cow's baseline of about 12; 1e308 would overflow every mean and ratio downstream). Climate: air
    temperature outside [-50, 60] °C, relative humidity outside [0, 100] %.
``future``
    timestamp more than 5 minutes after ``now`` (clock skew allowance). ``now`` is the wall
    clock (:func:`wall_clock`) unless a caller passes one (tests inject theirs): never a
    simulated clock, so a simulation run ahead of real time stores nothing from the future.
``unknown_animal`` / ``unknown_sensor``
    the id is not in the herd database: storing it would create an orphan series.
``duplicate``
    an exact repeat of an earlier row in the same batch (same id, timestamp and values;
    gateways resend). The first is kept.
``conflict``
    same id and timestamp as a later row in the batch but different values: the store keeps
    one reading per (id, ts), the later row is taken as the correction and this one is kept
    here so the disagreement stays visible.

Timestamps are reduced to whole seconds (the stores' resolution) before duplicate checks, so
``written + rejected == received`` holds exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import RejectedReading, to_db_ts
from smx_assets.domain.json_values import json_safe
from smx_assets.domain.sensor_store.base import CLIMATE_COLUMNS, SensorStore
from smx_assets.domain.time_grid import utc

TEMP_RANGE_C = (28.0, 44.0)
PH_RANGE = (4.0, 8.0)
ACTIVITY_RANGE = (0.0, 10_000.0)
AIR_TEMP_RANGE_C = (-50.0, 60.0)
RH_RANGE_PCT = (0.0, 100.0)
FUTURE_TOLERANCE = pd.Timedelta(minutes=5)
EARLIEST_TS = pd.Timestamp("2000-01-01", tz="UTC")  # anything older is a broken clock, not data
# ISO 8601 date-time as gateways send it: a date, optionally a time, optionally an offset.
_ISO_RE = r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*$"


def wall_clock() -> pd.Timestamp:
    """The real time, UTC: what ``future`` is judged against (tests monkeypatch this)."""
    return pd.Timestamp.now(tz="UTC")

_BOLUS_OUT = ["animal_id", "ts", "temp_c", "activity", "ph"]
REJECTED_COLUMNS = ["entity_ref", "ts_raw", "reason", "payload"]
_MAX_ID = 2**63 - 1


@dataclass
class ValidationResult:
    valid: pd.DataFrame
    rejected: pd.DataFrame

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().items()}


@dataclass
class IngestReport:
    """What one ingestion batch did; ``n_received == n_written + n_rejected`` always."""

    n_received: int
    n_written: int
    n_rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    batch_id: str = ""


# ------------------------------------------------------------------------- parsing


def _parse_ids(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 ids, ok mask). Integral numbers and digit strings parse; anything else fails."""
    if pd.api.types.is_integer_dtype(col) and not pd.api.types.is_bool_dtype(col):
        arr = col.to_numpy(dtype="int64", na_value=-1)
        return arr, (arr >= 0) & col.notna().to_numpy()
    if pd.api.types.is_bool_dtype(col):
        return np.zeros(len(col), dtype="int64"), np.zeros(len(col), dtype=bool)
    if col.dtype == object:
        # strings such as "1' OR 1=1" or "12abc" must fail; booleans are not ids either
        col = col.map(lambda v: None if isinstance(v, (bool, np.bool_)) else v)
    num = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ok = np.isfinite(num) & (num >= 0) & (num <= 2**53) & (np.floor(num) == num)
    ids = np.where(ok, num, -1).astype("int64")
    return ids, ok


def _parse_ts(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(UTC timestamps floored to the second, ok mask). Naive values are taken to be UTC."""
    if pd.api.types.is_datetime64_any_dtype(col):
        ts = col
        if getattr(ts.dt, "tz", None) is None:
            ts = ts.dt.tz_localize("UTC")
        ts = ts.dt.tz_convert("UTC")
    elif pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        # bare numbers are ambiguous (s? ms? ns?): a gateway must send a timestamp
        ts = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns, UTC]")
    else:
        as_obj = col.map(lambda v: v if isinstance(v, (str, dt.datetime, pd.Timestamp)) else None)
        # pandas applies the first string's UTC offset to *naive* strings in the same column
        # ("...T12:00+01:00", "... 10:00" -> 09:00 UTC); parse naive and offset strings apart.
        text = as_obj.astype("string")
        # Only ISO 8601 strings: pandas reads "now" as the parse time and "20261105" as a date.
        is_str = as_obj.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        iso = text.str.match(_ISO_RE, na=False).to_numpy(dtype=bool)
        as_obj = as_obj.where(pd.Series(~is_str | iso, index=col.index), None)
        text = as_obj.astype("string")
        has_offset = text.str.contains(_OFFSET_RE, regex=True, na=False).to_numpy()
        ts = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns, UTC]")
        for part in (has_offset, ~has_offset):
            if part.any():
                ts[part] = _to_utc(as_obj[part])
    ts = ts.dt.as_unit("ns").dt.floor("s")
    ts = ts.where(ts >= EARLIEST_TS)  # before 2000: a zeroed or defaulted clock, not a reading
    return ts, ts.notna().to_numpy()


_OFFSET_RE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"


def _to_utc(values: pd.Series) -> pd.Series:
    try:
        out = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):
        out = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    return out.dt.as_unit("ns")


def _parse_float(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, parse-failed mask): a non-null raw value that is not a number failed."""
    if pd.api.types.is_float_dtype(col) or (
        pd.api.types.is_integer_dtype(col) and not pd.api.types.is_bool_dtype(col)
    ):
        return col.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(col), dtype=bool)
    if col.dtype == object:
        col = col.map(lambda v: "bool" if isinstance(v, (bool, np.bool_)) else v)
    num = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    failed = np.isnan(num) & col.notna().to_numpy()
    return num, failed


def _short(value: Any, n: int) -> str | None:
    safe = json_safe(value, max_text=500)
    return None if safe is None else str(safe)[:n]


def _rejected_frame(raw: pd.DataFrame, positions: np.ndarray, reasons: np.ndarray,
                    id_column: str) -> pd.DataFrame:
    if len(positions) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECTED_COLUMNS})
    rows = raw.iloc[positions]
    records = rows.to_dict("records")
    return pd.DataFrame(
        {
            "entity_ref": [_short(r.get(id_column), 128) for r in records],
            "ts_raw": [_short(r.get("ts"), 64) for r in records],
            "reason": reasons,
            "payload": [{str(k): json_safe(v, max_text=500) for k, v in r.items()} for r in records],
        }
    )


# ---------------------------------------------------------------------- validation


def _validate(raw: pd.DataFrame, id_column: str, value_specs: list[tuple[str, tuple[float, float] | None, bool]],
              known_ids: set[int], unknown_reason: str, now: pd.Timestamp | None,
              out_columns: list[str]) -> ValidationResult:
    """Shared engine: ``value_specs`` is (column, allowed range or None, required)."""
    n = len(raw)
    raw = raw.reset_index(drop=True)
    now = utc(now if now is not None else wall_clock())
    # reason codes (index into _REASONS, 0 = valid) keep every step a numpy mask operation
    code = np.zeros(n, dtype="int8")
    reasons = ["", "malformed", "out_of_range", "future", unknown_reason, "duplicate", "conflict"]

    def mark(mask: np.ndarray, why: str) -> None:
        code[(code == 0) & mask] = reasons.index(why)

    missing_cols = [c for c in [id_column, "ts"] + [s[0] for s in value_specs if s[2]]
                    if c not in raw.columns]
    if missing_cols:
        raise ValueError(f"raw readings lack columns {missing_cols}")

    ids, id_ok = _parse_ids(raw[id_column])
    ts, ts_ok = _parse_ts(raw["ts"])
    mark(~id_ok | ~ts_ok, "malformed")
    values: dict[str, np.ndarray] = {}
    for name, _bounds, required in value_specs:
        if name in raw.columns:
            arr, failed = _parse_float(raw[name])
        else:
            arr, failed = np.full(n, np.nan), np.zeros(n, dtype=bool)
        mark(failed | (np.isnan(arr) if required else np.zeros(n, dtype=bool)), "malformed")
        values[name] = arr
    if "received_at" in raw.columns:
        received, rec_ok = _parse_ts(raw["received_at"])
        missing = raw["received_at"].isna().to_numpy()
        mark(~rec_ok & ~missing, "malformed")
        received = received.where(~pd.Series(missing), now.floor("s"))
    else:
        received = pd.Series(now.floor("s"), index=raw.index).dt.as_unit("ns")

    for name, rng, _required in value_specs:
        arr = values[name]
        bad = np.isinf(arr)
        if rng is not None:
            with np.errstate(invalid="ignore"):
                bad |= (arr < rng[0]) | (arr > rng[1])
        mark(bad, "out_of_range")

    ts_ns = ts.astype("int64").to_numpy() if n else np.empty(0, dtype="int64")
    mark(ts_ok & (ts_ns > (now + FUTURE_TOLERANCE).value), "future")
    known = np.fromiter((int(k) for k in known_ids), dtype="int64", count=len(known_ids))
    mark(~np.isin(ids, known), unknown_reason)

    # Duplicates among the rows still valid: exact repeats first, then key conflicts. A sort
    # finds whether any (id, ts) repeats at all; pandas' duplicated() then only sees those rows.
    alive = np.flatnonzero(code == 0)
    if len(alive) > 1:
        a_ids, a_ts = ids[alive], ts_ns[alive]
        order = np.lexsort((a_ts, a_ids))
        same = (a_ids[order][1:] == a_ids[order][:-1]) & (a_ts[order][1:] == a_ts[order][:-1])
        if same.any():
            in_group = np.zeros(len(alive), dtype=bool)
            in_group[order[1:][same]] = True
            in_group[order[:-1][same]] = True
            sub = alive[in_group]  # original positions, still in batch order
            key = pd.DataFrame({"id": ids[sub], "ts": ts_ns[sub]})
            full = key.assign(**{name: values[name][sub] for name, _r, _q in value_specs})
            exact_dup = full.duplicated(keep="first").to_numpy()
            code[sub[exact_dup]] = reasons.index("duplicate")
            rest = sub[~exact_dup]
            conflict = key.iloc[np.flatnonzero(~exact_dup)].duplicated(keep="last").to_numpy()
            code[rest[conflict]] = reasons.index("conflict")

    ok = code == 0
    reason = np.asarray(reasons, dtype=object)[code]
    valid = pd.DataFrame({id_column: ids[ok], "ts": ts[ok].reset_index(drop=True)})
    for name, _rng, _required in value_specs:
        valid[name] = values[name][ok]
    valid["received_at"] = received[ok].reset_index(drop=True).dt.as_unit("ns")
    valid = valid[out_columns + ["received_at"]]
    bad_pos = np.flatnonzero(~ok)
    rejected = _rejected_frame(raw, bad_pos, reason[bad_pos], id_column)
    return ValidationResult(valid=valid, rejected=rejected)


def validate_bolus(raw: pd.DataFrame, known_animal_ids: set[int], now: pd.Timestamp | None = None) -> ValidationResult:
    """Split raw bolus readings into valid (store format + received_at) and rejected."""
    specs = [("temp_c", TEMP_RANGE_C, True), ("activity", ACTIVITY_RANGE, True), ("ph", PH_RANGE, False)]
    # no interval_s: a bolus reading is one 10-minute bucket, the store's default
    return _validate(raw, "animal_id", specs, known_animal_ids, "unknown_animal", now, _BOLUS_OUT)


def validate_climate(raw: pd.DataFrame, known_sensor_ids: set[int], now: pd.Timestamp | None = None) -> ValidationResult:
    """Split raw climate readings into valid (store format + received_at) and rejected."""
    specs = [("air_temp_c", AIR_TEMP_RANGE_C, True), ("rh_pct", RH_RANGE_PCT, True)]
    return _validate(raw, "sensor_id", specs, known_sensor_ids, "unknown_sensor", now, CLIMATE_COLUMNS)


# ------------------------------------------------------------------------- storing


def store_rejections(engine: Engine, rejected: pd.DataFrame, source: str, batch_id: str) -> int:
    """Replace the rejections of (source, batch_id) with ``rejected``; returns rows stored.

    Replace, not append: rerunning a failed ingestion with the same batch id must not
    duplicate its rejections (delete + insert in one transaction).
    """
    table = RejectedReading.__table__
    rejected_at = to_db_ts(pd.Timestamp.now(tz="UTC"))
    rows = [
        {
            "source": source,
            "batch_id": batch_id,
            "rejected_at": rejected_at,
            "reason": str(r.reason),
            "entity_ref": r.entity_ref,
            "ts_raw": r.ts_raw,
            # round-trip through json: guarantees the JSON column can store it
            "payload": json.loads(json.dumps(r.payload, default=str)),
        }
        for r in rejected.itertuples(index=False)
    ]
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.source == source, table.c.batch_id == batch_id))
        for lo in range(0, len(rows), 10_000):
            conn.execute(sa.insert(table), rows[lo:lo + 10_000])
    return len(rows)


def _validate_and_write(result: ValidationResult, n_received: int, write: Any, engine: Engine,
                        source: str, batch_id: str | None) -> IngestReport:
    batch_id = batch_id or uuid.uuid4().hex
    # Readings first: the store write is idempotent, so a failure after it is fixed by a
    # plain rerun with the same batch id (rejections are replaced, not appended).
    n_written = write(result.valid) if len(result.valid) else 0
    n_rejected = store_rejections(engine, result.rejected, source, batch_id)
    return IngestReport(
        n_received=n_received,
        n_written=int(n_written),
        n_rejected=n_rejected,
        rejected_by_reason=result.rejected_by_reason,
        batch_id=batch_id,
    )


def validate_and_write_bolus(raw: pd.DataFrame, store: SensorStore, engine: Engine,
                             now: pd.Timestamp | None = None, batch_id: str | None = None,
                             known_animal_ids: set[int] | None = None) -> IngestReport:
    """Validate against the herd DB's animals, write the valid rows, store the rejections."""
    known = known_animal_ids if known_animal_ids is not None else _known_ids(engine, "animals")
    result = validate_bolus(raw, known, now)
    return _validate_and_write(result, len(raw), store.write_bolus, engine, "bolus", batch_id)


def validate_and_write_climate(raw: pd.DataFrame, store: SensorStore, engine: Engine,
                               now: pd.Timestamp | None = None, batch_id: str | None = None,
                               known_sensor_ids: set[int] | None = None) -> IngestReport:
    """Validate against the herd DB's climate sensors, write, store the rejections."""
    known = known_sensor_ids if known_sensor_ids is not None else _known_ids(engine, "climate_sensors")
    result = validate_climate(raw, known, now)
    return _validate_and_write(result, len(raw), store.write_climate, engine, "climate", batch_id)


def _known_ids(engine: Engine, table: str) -> set[int]:
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(sa.text(f"SELECT id FROM {table}"))}
