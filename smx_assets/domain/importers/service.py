"""Import export files into the herd DB and the sensor store: :func:`import_paths`.

Usage (the CLI ``smx import``, the Dagster ``import_job`` and ``bench/evaluate_real.py`` all
call exactly this)::

    from smx_assets.domain.importers import import_paths
    report = import_paths(["data/weekly/"], farm="dairy-a", timezone="Europe/Berlin",
                          store=sensor_store, engine=herd_db_engine)
    report.ok            # False when any file could not be imported
    for f in report.files:
        print(f.line())  # one line per file: rows read/written/rejected per reason, or the error

What one call does, file by file (files of a folder are its supported files, not recursive;
all files are read first and then imported oldest data first, so "the first copy is kept"
means the chronologically earlier export):

1. A file whose content (sha256) this farm already imported is skipped: its stored report is
   returned with status ``unchanged``, and no store is touched. Re-importing changes nothing.
2. A file that cannot be used at all (zero bytes, no rows, unreadable, wrong layout,
   unsupported type, not a regular file: a device or FIFO is never opened) gets status
   ``failed`` and a one-line error; it is recorded once in ``rejected_readings`` (the wrong
   layout's rows one by one) and the other files go on. So does a file whose import raises
   anything else (``import_error``: a store refusing a value): no error of one file stops the
   others, and a failed file creates no farm.
3. Otherwise every row is classified (``rows.classify``), rows repeating a reading already in
   the store are ``duplicate`` (identical) or ``conflict`` (different; the stored copy stays),
   the farm, its animals (by the farm's own cow number), lactations and inseminations are
   created or completed, the remaining readings are written with their interval, the
   rejections go to ``rejected_readings`` (source ``import``, one batch per file), and the
   file's report is recorded in ``imported_files`` (with its rejections, in one transaction;
   a concurrent import's record of the same file is kept when it wrote at least as many rows,
   see :func:`_record_import`). ``rows_read == rows_written + rows_rejected`` for every file,
   and per value column: non-empty cells read == cells written + cells in rejected rows
   (checked before anything is written: a silent NULL fails the file instead).

``farm=None`` takes each file's folder name as its farm (cow numbers are unique within a
farm's exports only). Naive times are local time of ``timezone`` (default UTC).

Retention (``readings_retention_days``, the CLI and the job pass ``SMX_RETENTION_READINGS_DAYS``):
a reading older than the sensor store's retention window (before ``retention.cutoff_day``) is
not written but rejected as ``beyond_retention``, counted and stored like every other
rejection, and the report carries a one-line warning naming the setting. Written, it would be
lost without a word: InfluxDB refuses points past its retention policy, and on the SQL store the
next daily ``storage_retention`` run would delete it. A file with such rows is not "done": after
raising the setting, importing it again writes them (the rows written the first time are then
``duplicate``), instead of answering "already imported, unchanged". ``None`` = the store keeps
everything (scratch stores of the benchmarks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.domain.herd_db import Animal, Farm, ImportedFile, Insemination, Lactation, RejectedReading, to_db_ts
from smx_assets.domain.importers.cells import is_blank
from smx_assets.domain.importers.formats import SUPPORTED_SUFFIXES, FileRejected, ParsedFile, raw_records, read_export
from smx_assets.domain.importers.herd import herd_records
from smx_assets.domain.importers.rows import classify, same_values
from smx_assets.domain.redaction import error_line
from smx_assets.domain.retention import cutoff_day
from smx_assets.domain.sensor_store.base import SensorStore

log = logging.getLogger(__name__)
SOURCE = "import"
BEYOND_RETENTION = "beyond_retention"
RETENTION_SETTING = "SMX_RETENTION_READINGS_DAYS"


@dataclass
class FileReport:
    """What importing one file did. ``rows_read == rows_written + rows_rejected``."""

    path: str
    farm: str
    status: str  # imported | unchanged | failed
    file_format: str | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> rows
    # per value column (the file's header): non-empty cells read, written, in rejected rows
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    error_reason: str | None = None  # for a failed file
    error: str | None = None
    cows: int = 0
    animals_added: int = 0
    lactations_added: int = 0
    inseminations_added: int = 0
    first_ts: str | None = None
    last_ts: str | None = None
    retention_cutoff: str | None = None  # first UTC day the store keeps, when rows lay before it

    def line(self) -> str:
        """One line for a person: the counts, or the error naming the file and why."""
        if self.status == "failed":
            return f"{self.path}: cannot import ({self.error_reason}): {self.error}"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) or "none"
        prefix = "already imported, unchanged" if self.status == "unchanged" else "imported"
        return (f"{self.path}: {prefix}: {self.rows_read} rows read, {self.rows_written} written, "
                f"{self.rows_rejected} rejected ({reasons}); {self.cows} cows")


@dataclass
class ImportReport:
    files: list[FileReport]

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" for f in self.files)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_written(self) -> int:
        return sum(f.rows_written for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def rejected_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for k, v in f.rejected.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    def summary(self) -> str:
        failed = sum(f.status == "failed" for f in self.files)
        unchanged = sum(f.status == "unchanged" for f in self.files)
        reasons = ", ".join(f"{k} {v}" for k, v in self.rejected_by_reason().items()) or "none"
        return (f"{len(self.files)} files ({failed} failed, {unchanged} already imported): "
                f"{self.rows_read} rows read, {self.rows_written} written, {self.rows_rejected} "
                f"rejected ({reasons})")

    def warnings(self) -> list[str]:
        """One line per problem that is not a failed file: readings beyond the store's retention."""
        beyond = [f for f in self.files if f.rejected.get(BEYOND_RETENTION)]
        if not beyond:
            return []
        n = sum(f.rejected[BEYOND_RETENTION] for f in beyond)
        cutoff = min(f.retention_cutoff or "" for f in beyond)
        return [f"{n} readings in {len(beyond)} files are older than the sensor store keeps readings "
                f"({RETENTION_SETTING}: from {cutoff} on) and were not written ({BEYOND_RETENTION}); to keep "
                f"them, raise {RETENTION_SETTING} (then smx migrate) and import the files again"]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "warnings": self.warnings(), "rows_read": self.rows_read, "rows_written": self.rows_written,
                "rows_rejected": self.rows_rejected, "rejected_by_reason": self.rejected_by_reason(),
                "files": [asdict(f) for f in self.files]}


# ---------------------------------------------------------------------- discovery


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Files to import: each given file, and each supported, non-hidden file of a given folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                              and f.suffix.lower() in SUPPORTED_SUFFIXES))
        else:
            out.append(p)
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]  # type: ignore[func-returns-value]


def readable(name: str) -> str:
    """A file or folder name as text a database takes: bytes that are not UTF-8 (a Latin-1
    ``Kühe.csv`` made on an old system) become U+FFFD instead of failing PostgreSQL's encoder."""
    return os.fsencode(name).decode("utf-8", "replace")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        h.update(str(path).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------- herd DB


def _find_farm(engine: Engine, name: str) -> int | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(Farm.id).where(Farm.name == name)).first()
    return int(row[0]) if row else None


def _farm_id(engine: Engine, name: str, timezone: str) -> int:
    """The farm's id, created on its first imported file (never for a file that fails)."""
    for attempt in range(2):
        found = _find_farm(engine, name)
        if found is not None:
            return found
        try:
            with engine.begin() as conn:
                return int(conn.execute(sa.insert(Farm).values(name=name, timezone=timezone, default_housing="barn")
                                        .returning(Farm.id)).scalar_one())
        except sa.exc.IntegrityError:
            if attempt:  # pragma: no cover - a concurrent import created it: read it again
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _imported(engine: Engine, farm_id: int, sha: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(ImportedFile.counts).where(
            ImportedFile.farm_id == farm_id, ImportedFile.sha256 == sha)).first()
    return dict(row[0]) if row else None


def _bolus_type(signals: tuple[str, ...]) -> str:
    if "temp_c" in signals:
        return "temp_activity_ph" if "ph" in signals else "temp_activity"
    return "collar_activity"  # no temperature: fever and calving cannot run on it


def _upsert_herd(engine: Engine, farm_id: int, parsed: ParsedFile, rows: pd.DataFrame,
                 written: pd.DataFrame, timezone: str) -> tuple[dict[str, int], int, int, int]:
    """:func:`_upsert_herd_once`, again once when a concurrent import added the same animal first."""
    try:
        return _upsert_herd_once(engine, farm_id, parsed, rows, written, timezone)
    except sa.exc.IntegrityError:
        return _upsert_herd_once(engine, farm_id, parsed, rows, written, timezone)


def _upsert_herd_once(engine: Engine, farm_id: int, parsed: ParsedFile, rows: pd.DataFrame,
                      written: pd.DataFrame, timezone: str) -> tuple[dict[str, int], int, int, int]:
    """Animals (by cow number), lactations and inseminations; returns (cow->id, added counts).

    The cow number is the one :func:`cells.cow_number` made (never cut); the ear tag is
    ``<farm id>-<cow number>`` in full (VARCHAR(96) since migration 0005).
    """
    cows = sorted(set(rows["cow_number"].dropna()))
    # herd columns of every row whose cow and time are trustworthy (an empty reading still
    # says the cow is in lactation 3 on day 40)
    records = herd_records(rows[~rows["reason"].isin(["malformed", "future"])], timezone)
    first_reading = written.groupby("cow_number")["ts"].min().to_dict() if len(written) else {}
    added_animals = added_lact = added_ins = 0
    with engine.begin() as conn:
        existing = {r.cow_number: r for r in conn.execute(
            sa.select(Animal.id, Animal.cow_number, Animal.bolus_inserted_at).where(Animal.farm_id == farm_id))}
        for cow in cows:
            first = first_reading.get(cow)
            if cow not in existing:
                conn.execute(sa.insert(Animal).values(
                    farm_id=farm_id, ear_tag=f"{farm_id}-{cow}", cow_number=cow, birth_date=None,
                    bolus_type=_bolus_type(parsed.signals), bolus_id=None,
                    bolus_inserted_at=to_db_ts(first) if first is not None else None,
                    status=records.status.get(cow)))
                added_animals += 1
            else:
                values: dict[str, Any] = {}
                if cow in records.status:
                    values["status"] = records.status[cow]
                old = existing[cow].bolus_inserted_at
                if first is not None and (old is None or to_db_ts(first) < old):
                    values["bolus_inserted_at"] = to_db_ts(first)
                if values:
                    conn.execute(sa.update(Animal).where(Animal.id == existing[cow].id).values(**values))
        ids = {r.cow_number: int(r.id) for r in conn.execute(
            sa.select(Animal.id, Animal.cow_number).where(Animal.farm_id == farm_id))}
        have_lact = {(int(a), int(n)) for a, n in conn.execute(
            sa.select(Lactation.animal_id, Lactation.lactation_number)
            .where(Lactation.animal_id.in_(list(ids.values()))))}
        for r in records.lactations.itertuples(index=False):
            key = (ids[r.cow_number], int(r.lactation_number))
            if key not in have_lact:
                conn.execute(sa.insert(Lactation).values(
                    animal_id=key[0], lactation_number=key[1], calving_at=to_db_ts(r.calving_at),
                    recorded_at=to_db_ts(r.recorded_at)))
                have_lact.add(key)
                added_lact += 1
        have_ins = {(int(a), pd.Timestamp(t)) for a, t in conn.execute(
            sa.select(Insemination.animal_id, Insemination.at)
            .where(Insemination.animal_id.in_(list(ids.values()))))}
        for r in records.inseminations.itertuples(index=False):
            key = (ids[r.cow_number], pd.Timestamp(to_db_ts(r.at)))
            if key not in have_ins:
                conn.execute(sa.insert(Insemination).values(
                    animal_id=key[0], at=to_db_ts(r.at), recorded_at=to_db_ts(max(r.recorded_at, r.at))))
                have_ins.add(key)
                added_ins += 1
    return ids, added_animals, added_lact, added_ins


def _rejections(parsed: ParsedFile, rows: pd.DataFrame) -> pd.DataFrame:
    """One record per rejected row: the row's cells as the file had them (``values``) and, for a
    ``malformed`` row, ``detail``: the column and what is wrong with its cell."""
    bad = rows[rows["reason"].notna()]
    raw = raw_records(parsed.source.loc[bad.index])
    payloads = []
    for r, v, d in zip(bad["row"], raw, bad["detail"]):
        payload: dict[str, Any] = {"file": readable(parsed.path.name), "row": int(r), "values": v}
        if isinstance(d, str):
            payload["detail"] = d
        payloads.append(payload)
    return pd.DataFrame({
        "entity_ref": bad["cow_number"].to_numpy(),
        "ts_raw": [None if pd.isna(t) else pd.Timestamp(t).isoformat() for t in bad["ts"]],
        "reason": bad["reason"].to_numpy(),
        "payload": payloads,
    })


def _store_rejections(conn: sa.Connection, rejected: pd.DataFrame, batch_id: str) -> int:
    """Replace the batch's rejections (a rerun after a crash must not add them twice).

    Payloads are JSON-safe already (``raw_records``); one executemany keeps 60,000 rejected
    rows of a big export at about a second on SQLite.
    """
    table = RejectedReading.__table__
    rejected_at = to_db_ts(pd.Timestamp.now(tz="UTC"))
    records = [{"source": SOURCE, "batch_id": batch_id, "rejected_at": rejected_at, "reason": str(r.reason),
                "entity_ref": r.entity_ref, "ts_raw": r.ts_raw, "payload": r.payload}
               for r in rejected.itertuples(index=False)]
    conn.execute(sa.delete(table).where(table.c.source == SOURCE, table.c.batch_id == batch_id))
    for lo in range(0, len(records), 20_000):
        conn.execute(sa.insert(table), records[lo:lo + 20_000])
    return len(records)


def _batch_id(farm_id: int, sha: str) -> str:
    return f"{SOURCE}-{farm_id}-{sha[:48]}"


def _record_failure(engine: Engine, farm: str, path: Path, exc: FileRejected, sha: str | None = None) -> None:
    """One stored record per failed file (its rows one by one for a wrong layout); kept once.

    Keyed by farm *name*, file name and content: a failed file creates no farm row, so there
    is no farm id to key it by (``smx import /dev/zero`` must not leave a farm ``dev``).
    """
    content = sha if sha is not None else hashlib.sha256(str(path).encode()).hexdigest()
    key = hashlib.sha256(f"{farm}\0{readable(path.name)}\0{content}\0{exc.reason}".encode()).hexdigest()
    batch = f"{SOURCE}-failed-{key[:48]}"
    with engine.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(RejectedReading)
                        .where(RejectedReading.batch_id == batch)).scalar_one():
            return  # the same file failed the same way before: nothing to change
    n = max(exc.rows, 1)
    rejected = pd.DataFrame({
        "entity_ref": [None] * n, "ts_raw": [None] * n, "reason": [exc.reason] * n,
        "payload": [{"file": readable(path.name), "farm": farm, "row": (i + 1) if exc.rows else None, "error": str(exc)}
                    for i in range(n)],
    })
    with engine.begin() as conn:
        _store_rejections(conn, rejected, batch)


def _failed(path: Path, farm: str, exc: FileRejected, engine: Engine, sha: str | None = None) -> FileReport:
    """The report of a file that failed, its failure stored when the herd DB takes it."""
    try:
        _record_failure(engine, farm, path, exc, sha)
    except Exception as store_exc:  # noqa: BLE001 - the report must still name the file and why
        log.warning("cannot store the failure of %s: %s", path, store_exc)
    return FileReport(path=str(path), farm=farm, status="failed", error_reason=exc.reason, error=str(exc),
                      rows_read=exc.rows, rows_rejected=exc.rows, rejected={exc.reason: exc.rows} if exc.rows else {})


def _regular_file(path: Path) -> None:
    """Only regular files are read: ``/dev/zero`` never ends, a FIFO blocks until written to."""
    try:
        mode = path.stat().st_mode  # follows a symbolic link to the file it names
    except OSError as exc:
        raise FileRejected("unreadable", f"cannot open: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                 (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")]
        kind = next((name for test, name in kinds if test(mode)), "not a regular file")
        raise FileRejected("not_a_file", f"not a regular file ({kind}): only files are imported")


def _unexpected(exc: Exception, rows: int = 0) -> FileRejected:
    """An error no rule foresaw (a store refusing a value, a bug): this file fails, the others go on."""
    log.exception("import failed")
    return FileRejected("import_error", error_line(exc, limit=200), rows=rows)


# ------------------------------------------------------------------------ import


def import_paths(
    paths: Iterable[str | Path],
    farm: str | None = None,
    timezone: str = "UTC",
    *,
    store: SensorStore,
    engine: Engine,
    now: pd.Timestamp | None = None,
    progress: Callable[[str], None] | None = None,
    readings_retention_days: int | None = None,
) -> ImportReport:
    """Import files and folders; see the module docstring. Never raises for a bad file or row:
    whatever goes wrong with one file is that file's ``failed`` report, and the others go on."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    keep_from = (None if readings_retention_days is None
                 else pd.Timestamp(cutoff_day(now, readings_retention_days), tz="UTC"))
    say = progress or (lambda _msg: None)
    pd.Timestamp.now(tz=timezone)  # an unknown time zone fails here, before anything is written
    reports: list[FileReport] = []
    pending: list[tuple[Path, str, str, ParsedFile, dict[str, Any] | None]] = []
    for path in discover(paths):
        farm_name = readable(farm or path.resolve().parent.name)
        sha: str | None = None
        try:
            _regular_file(path)
            sha = _sha256(path)
            farm_id = _find_farm(engine, farm_name)
            done = _imported(engine, farm_id, sha) if farm_id is not None else None
            seen = done
            if done is not None and _beyond_retention_may_fit(done, keep_from):
                done = None  # rows were held back by retention, and the window now reaches further back
            if done is not None:
                reports.append(_unchanged(done, path))
                say(reports[-1].line())
                continue
            parsed = read_export(path, timezone)
        except FileRejected as exc:
            reports.append(_failed(path, farm_name, exc, engine, sha))
            say(reports[-1].line())
            continue
        except Exception as exc:  # noqa: BLE001 - one file's unforeseen error must not stop the others
            reports.append(_failed(path, farm_name, _unexpected(exc), engine, sha))
            say(reports[-1].line())
            continue
        pending.append((path, farm_name, sha, parsed, seen))
    # oldest data first: "the first copy is kept" then means the earlier export
    pending.sort(key=lambda p: (_first_ts(p[3], now), str(p[0])))
    for path, farm_name, sha, parsed, seen in pending:
        try:
            farm_id = _farm_id(engine, farm_name, timezone)
            report = _import_one(path, farm_name, farm_id, sha, parsed, timezone, store, engine, now, keep_from,
                                 replaces=seen)
        except Exception as exc:  # noqa: BLE001 - as above: this file fails, with its reason
            report = _failed(path, farm_name, _unexpected(exc, rows=len(parsed.rows)), engine, sha)
        reports.append(report)
        say(reports[-1].line())
    return ImportReport(files=reports)


def _unchanged(record: dict[str, Any], path: Path) -> FileReport:
    """The report of a file whose import is already recorded: that record's figures."""
    return FileReport(**{**record, "path": str(path), "status": "unchanged"})


def _first_ts(parsed: ParsedFile, now: pd.Timestamp) -> pd.Timestamp:
    """The file's earliest time, for the import order (a file without one goes last)."""
    ts = pd.to_datetime(parsed.rows["ts"], utc=True, errors="coerce").dropna()
    return ts.min() if len(ts) else now


def _beyond_retention_may_fit(done: dict[str, Any], keep_from: pd.Timestamp | None) -> bool:
    """A file imported with rows beyond retention is imported again once the window reaches further back."""
    if not (done.get("rejected") or {}).get(BEYOND_RETENTION):
        return False
    before = done.get("retention_cutoff")
    return keep_from is None or before is None or keep_from < pd.Timestamp(before, tz="UTC")


def _column_counts(parsed: ParsedFile, rows: pd.DataFrame, written: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per value column of the file: non-empty cells read = written + in rejected rows.

    A non-empty cell of a written row that did not arrive as a value would be a silent NULL;
    the import checks that there is none (the per-column form of read = written + rejected).
    """
    out: dict[str, dict[str, int]] = {}
    rejected = rows["reason"].notna().to_numpy()
    for signal in parsed.signals:
        header = parsed.columns[signal]
        filled = ~is_blank(parsed.source[header].tolist())
        out[header] = {"read": int(filled.sum()), "written": int(written[signal].notna().sum()),
                       "rejected": int((filled & rejected).sum())}
    return out


def _import_one(path: Path, farm_name: str, farm_id: int, sha: str, parsed: ParsedFile, timezone: str,
                store: SensorStore, engine: Engine, now: pd.Timestamp,
                keep_from: pd.Timestamp | None = None, replaces: dict[str, Any] | None = None) -> FileReport:
    rows = parsed.rows.copy()
    rows["reason"], rows["detail"] = classify(parsed, now)
    beyond = False
    if keep_from is not None:
        # only readings that would otherwise be written: a row rejected for another reason keeps it
        old = rows["reason"].isna() & (pd.to_datetime(rows["ts"], utc=True) < keep_from)
        rows.loc[old, "reason"] = BEYOND_RETENTION
        beyond = bool(old.any())
    candidates = rows[rows["reason"].isna()]
    ids, added_animals, added_lact, added_ins = _upsert_herd(engine, farm_id, parsed, rows, candidates, timezone)
    readings = pd.DataFrame({
        "animal_id": candidates["cow_number"].map(ids).astype("int64").to_numpy(),
        "ts": candidates["ts"].to_numpy(),
        "temp_c": candidates["temp_c"].to_numpy(), "activity": candidates["activity"].to_numpy(),
        "ph": candidates["ph"].to_numpy(), "interval_s": candidates["interval_s"].to_numpy(),
    }, index=candidates.index)
    readings["ts"] = pd.to_datetime(readings["ts"], utc=True)
    if len(readings):
        # readings already stored (an earlier, overlapping export): identical -> duplicate,
        # different -> conflict; the stored copy stays
        stored = store.read_bolus(readings["ts"].min(), readings["ts"].max() + pd.Timedelta(seconds=1),
                                  sorted(set(readings["animal_id"].tolist())))
        if len(stored):
            keyed = readings.reset_index().merge(stored, on=["animal_id", "ts"], suffixes=("", "_stored"))
            if len(keyed):
                theirs = keyed[["interval_s_stored", "activity_stored", "temp_c_stored", "ph_stored"]]
                theirs.columns = ["interval_s", "activity", "temp_c", "ph"]
                identical = same_values(keyed, theirs)
                rows.loc[keyed["index"].to_numpy()[identical], "reason"] = "duplicate"
                rows.loc[keyed["index"].to_numpy()[~identical], "reason"] = "conflict"
                readings = readings.loc[rows.loc[readings.index, "reason"].isna()]
    readings = readings.assign(received_at=now.floor("s"))
    columns = _column_counts(parsed, rows, readings)
    for column, c in columns.items():  # checked before anything is written
        if c["read"] != c["written"] + c["rejected"]:
            raise AssertionError(f"column {column}: {c['read']} values read != {c['written']} to write + "
                                 f"{c['rejected']} in rejected rows")
    n_written = int(store.write_bolus(readings.reset_index(drop=True))) if len(readings) else 0
    rejected = _rejections(parsed, rows)
    counts = {str(k): int(v) for k, v in rejected["reason"].value_counts().sort_index().items()}
    ts = rows["ts"].dropna()
    report = FileReport(
        path=str(path), farm=farm_name, status="imported", file_format=parsed.file_format,
        rows_read=len(rows), rows_written=n_written, rows_rejected=len(rejected), rejected=counts,
        columns=columns,
        cows=int(rows["cow_number"].nunique()), animals_added=added_animals, lactations_added=added_lact,
        inseminations_added=added_ins,
        first_ts=ts.min().isoformat() if len(ts) else None, last_ts=ts.max().isoformat() if len(ts) else None,
        retention_cutoff=keep_from.date().isoformat() if beyond and keep_from is not None else None,
    )
    if report.rows_read != report.rows_written + report.rows_rejected:
        raise AssertionError(f"rows read {report.rows_read} != written {report.rows_written} + rejected "
                             f"{report.rows_rejected}")
    earlier = _record_import(engine, farm_id, sha, path, parsed.file_format, now, report, rejected, replaces)
    if earlier is not None:
        # a concurrent import of the same file recorded it first and wrote at least as many rows:
        # its record (and its rejections) stay, this run reports that record
        return _unchanged(earlier, path)
    return report


def _record_import(engine: Engine, farm_id: int, sha: str, path: Path, file_format: str, now: pd.Timestamp,
                   report: FileReport, rejected: pd.DataFrame, replaces: dict[str, Any] | None) -> dict[str, Any] | None:
    """Store the file's rejections and its record in one transaction; returns the record kept instead.

    Two imports of the same file at once both classify it; the second one to read the store
    finds the first one's rows there and counts them all ``duplicate``. Its record must not
    replace the first one's ("0 written, all duplicate"): an existing record stays unless it is
    the one this import set out to replace (``replaces``, a retention re-import) or it wrote
    fewer rows than this one. The unique (farm, sha256) key makes the second of two concurrent
    inserts fail; it then decides again against the record now there.
    """
    table = ImportedFile.__table__
    batch = _batch_id(farm_id, sha)
    where = (table.c.farm_id == farm_id, table.c.sha256 == sha)
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                row = conn.execute(sa.select(table.c.id, table.c.counts).where(*where).with_for_update()).first()
                if row is not None:
                    theirs = dict(row.counts)
                    if theirs != replaces and int(theirs.get("rows_written", 0)) >= report.rows_written:
                        return theirs
                    # only the record just judged: a blind delete by (farm, sha256) would, under
                    # READ COMMITTED, remove a record another import committed after this SELECT
                    conn.execute(sa.delete(table).where(table.c.id == row.id))
                # a record inserted meanwhile by another import makes this insert fail (unique
                # farm and sha256): the transaction, its rejections included, is rolled back and
                # the decision made again
                conn.execute(sa.insert(table).values(
                    farm_id=farm_id, sha256=sha, file_name=readable(path.name)[:255], file_format=file_format,
                    imported_at=to_db_ts(now), rows_read=report.rows_read, rows_written=report.rows_written,
                    rows_rejected=report.rows_rejected, counts=json.loads(json.dumps(asdict(report)))))
                _store_rejections(conn, rejected, batch)
            return None
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise
    return None  # pragma: no cover


def known_reasons() -> tuple[str, ...]:
    """Every rejection reason an import can store (row reasons and whole-file reasons)."""
    from smx_assets.domain.importers.rows import REASONS

    return REASONS + (BEYOND_RETENTION, "zero_byte", "empty_file", "unreadable", "wrong_layout", "unsupported_format",
                      "not_a_file", "import_error")


__all__ = ["FileReport", "ImportReport", "discover", "import_paths", "known_reasons"]
