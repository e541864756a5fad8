"""Hostile exports through ``import_paths`` on SQLite and PostgreSQL (issue #28, items 1-3).

Each case is a file a user could produce (a German Excel CSV, a hand-edited export, a vendor's
sloppy dump). One import takes them all, each in its own folder (so each file is its own farm),
and every file is checked the same way (:func:`_check`):

* rows read = written + rejected, and per value column: non-empty cells read = cells written +
  cells in rejected rows (no value became a silent NULL);
* every rejected row is stored in ``rejected_readings`` with its reason and the file's cells as
  written, a ``malformed`` one with the column and what is wrong (``detail``);
* readings stored = rows written, per column too; no two cow numbers on one animal, and every
  ear tag is ``<farm id>-<cow number>`` in full.

Then per file, what each case must do (the README's "Nothing lost, nothing invented").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.importers import ImportReport, import_paths
from smx_assets.domain.importers.service import known_reasons
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine

NOW = pd.Timestamp("2026-01-01", tz="UTC")
T0 = pd.Timestamp("2025-12-01T00:00:00Z")
HEADER = "cow_number,timestamp,interval_minutes,activity,temperature_c,ph"
C33 = ["DE0123456789012345678901234567" + s for s in ("89A", "89B", "89C")]  # 33 characters each
C32 = ["DE012345678901234567890123456789"[:31] + s for s in ("X", "Y")]  # 32, differ in the last one
C64 = "DE" + "0123456789" * 6 + "XY"
C65 = C64 + "Z"


def ts(i: int) -> str:
    return (T0 + pd.Timedelta(minutes=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- the files


def _german_export() -> bytes:
    """What Excel (German locale) saves as "CSV UTF-8": BOM, ';', decimal commas, CRLF."""
    lines = ["cow_number;timestamp;interval_minutes;activity;temperature_c;ph"]
    for i in range(6):
        lines.append(f"{2131 + i % 2};{ts(i)};10;{14 + i},5;38,{6 + i % 3};6,{2 + i % 2}")
    lines.append(f"2131;{ts(7)};10;15;39;6")  # whole numbers in a decimal-comma file
    lines.append(f"2131;{ts(8)};10;15.5;39.1;6.1")  # a decimal point still reads in a ';' file
    lines.append(f"2131;{ts(9)};10;1.234,5;39,0;6,0")  # thousands separator: malformed
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


BAD_TEMPERATURES = ["12abc", "0x10", "1e400", "nan", "inf", "-", "1.234,5", "39,1", "38.6.1"]


def _bad_values() -> str:
    """A comma file whose temperature column has decimal points and, in a few cells, junk."""
    lines = [HEADER, f"7,{ts(0)},10,20,38.6,6.2", f"7,{ts(1)},10,21,,6.2"]  # an empty cell: no temperature
    for k, bad in enumerate(BAD_TEMPERATURES):
        cell = f'"{bad}"' if "," in bad else bad
        lines.append(f"7,{ts(2 + k)},10,22,{cell},6.2")
    lines.append(f"7,{ts(20)},10,0x10,38.7,6.2")  # activity
    lines.append(f"7,{ts(21)},10,23,38.8,1,5")  # pH "1,5" unquoted: a seventh field
    lines.append(f"7,{ts(22)},100000000,23,38.8,6.2")  # 190 years "per reading": over the store's integer
    lines.append(f"8,{ts(0)},10,24,38.9,")
    lines.append(f"8,{ts(1)},,,12abc,")  # the cow's last row: once 'footer', it is malformed
    return "\n".join(lines) + "\n"


def _comma_column() -> str:
    """A comma file whose temperature column is consistently written with decimal commas."""
    lines = [HEADER] + [f'5,{ts(i)},10,{10 + i},"38,{i}",' for i in range(4)]
    return "\n".join(lines) + "\n"


def _tabs_with_commas() -> str:
    lines = [HEADER.replace(",", "\t")] + [f"6\t{ts(i)}\t10\t1{i},5\t38,{i}\t" for i in range(3)]
    return "\n".join(lines) + "\n"


def _long_numbers() -> str:
    rows = [*C33, *C32, C64, C65]
    return "\n".join([HEADER] + [f"{c},{ts(i)},10,{10 + i},38.5," for i, c in enumerate(rows)]) + "\n"


LOOK_ALIKES = ["2131", "2131\u200b", "\ufeff2131", " 2131 ", "2131.0", "2131\u2060",
               "M\u00fcller-1", "Mu\u0308ller-1", "M\u00fcller-1\u200d"]


def _look_alikes() -> str:
    return "\n".join([HEADER] + [f"{c},{ts(i)},10,{10 + i},38.5," for i, c in enumerate(LOOK_ALIKES)]) + "\n"


CONTROL_COWS = ["21\x0031", "21\x0131", "21\t31", "21\x7f31", "1' OR '1'='1"]


def _control_characters() -> str:
    lines = [HEADER + ",status", f"9,{ts(0)},10,20,38.6,,Open"]
    lines += [f"{c},{ts(1 + i)},10,20,38.6,,Open" for i, c in enumerate(CONTROL_COWS)]
    lines.append(f"9,{ts(10)},10,20,38\x00.6,,Open")  # NUL inside a value
    lines.append(f"9,{ts(11)},10,20,38.6,,Op\x00en")  # NUL inside the status
    lines.append(f"9,{ts(12)},10,20,38.6,,{'x' * 33}")  # a status longer than the column
    lines.append(f"9,{ts(13)},10,20,38.7,,Pregnant")
    return "\n".join(lines) + "\n"


def _mixed_delimiters() -> str:
    return "\n".join([
        "cow_number;timestamp;interval_minutes;activity;temperature_c",
        f"4;{ts(0)};10;20;38,6",
        f"4,{ts(1)},10,20,38.6",  # a comma line in a ';' file: one field
        f"4;{ts(2)};10;20;38,6;7",  # one field too many
        f"4;{ts(3)};10;21;38,7",
    ]) + "\n"


FILES: dict[str, Any] = {
    "german/export_de.csv": _german_export,
    "badvalues/values.csv": _bad_values,
    "commacol/comma.csv": _comma_column,
    "tabs/tabs.tsv": _tabs_with_commas,
    "long/long.csv": _long_numbers,
    "alike/alike.csv": _look_alikes,
    "control/control.csv": _control_characters,
    "mixed/mixed.csv": _mixed_delimiters,
}


def _write(root: Path) -> list[Path]:
    paths = []
    for rel, make in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        content = make()
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- the stores


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SensorStore, sa.Engine]]:
    if request.param == "sqlite":
        herd_url, store_url = f"sqlite:///{tmp_path / 'herd.db'}", f"sqlite:///{tmp_path / 'sensors.db'}"
    else:
        herd_url = store_url = request.getfixturevalue("pg_url")
    upgrade_herd_db(herd_url, features_path=str(tmp_path / "features"))
    engine = make_engine(herd_url)
    store = open_sensor_store(store_url)
    store.ensure_schema()
    yield store, engine
    store.close()
    engine.dispose()


def _rejections(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rej = pd.read_sql_query(sa.text("SELECT batch_id, reason, entity_ref, payload FROM rejected_readings "
                                        "WHERE source = 'import'"), conn)
    rej["payload"] = rej["payload"].map(lambda p: p if isinstance(p, dict) else json.loads(p))
    rej["file"] = rej["payload"].map(lambda p: p["file"])
    return rej


def _animals(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text("SELECT a.id, a.ear_tag, a.cow_number, a.farm_id, f.name AS farm "
                                         "FROM animals a JOIN farms f ON f.id = a.farm_id"), conn)


def _check(report: ImportReport, engine: sa.Engine, store: SensorStore) -> dict[str, Any]:
    """The invariants every file must keep; returns per file (report, rejections, readings)."""
    rej = _rejections(engine)
    animals = _animals(engine)
    assert animals.groupby("farm")["cow_number"].apply(lambda s: s.is_unique).all()
    assert animals["ear_tag"].is_unique
    assert (animals["ear_tag"] == animals["farm_id"].astype(str) + "-" + animals["cow_number"]).all()  # never cut
    readings = store.read_bolus(T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=10))
    readings = readings.merge(animals, left_on="animal_id", right_on="id")
    out: dict[str, Any] = {}
    for f in report.files:
        name = Path(f.path).name
        mine = rej[rej["file"] == name]
        stored = readings[readings["farm"] == f.farm]
        assert f.status == "imported", f.line()
        assert f.rows_read == f.rows_written + f.rows_rejected, f.line()
        assert len(mine) == f.rows_rejected and mine["reason"].value_counts().to_dict() == f.rejected, name
        assert set(mine["reason"]) <= set(known_reasons())
        assert all(isinstance(p.get("values"), dict) and p.get("row") for p in mine["payload"]), name
        malformed = mine[mine["reason"] == "malformed"]
        assert all(isinstance(p.get("detail"), str) and ":" in p["detail"] for p in malformed["payload"]), name
        assert len(stored) == f.rows_written, name
        assert f.columns, name
        for header, c in f.columns.items():
            assert c["read"] == c["written"] + c["rejected"], (name, header, c)
            signal = _signal(header)
            assert int(stored[signal].notna().sum()) == c["written"], (name, header)
        out[name] = (f, mine, stored)
    return out


def _signal(header: str) -> str:
    """The store's column of a file's value column (long format or Heatime header)."""
    from smx_assets.domain.importers.formats import HEATIME_HEADERS, LONG_HEADERS, _match

    found = {**_match([header], HEATIME_HEADERS), **_match([header], LONG_HEADERS)}
    return next(k for k in found if k in ("activity", "temp_c", "ph"))


def _details(mine: pd.DataFrame) -> list[str]:
    return sorted(p["detail"] for p in mine["payload"] if "detail" in p)


# ------------------------------------------------------------------------------- tests


def test_hostile_files_keep_every_value_or_reject_it_with_its_reason(stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, engine = stores
    report = import_paths(_write(tmp_path / "in"), store=store, engine=engine, now=NOW)
    assert report.ok, [f.line() for f in report.files]
    files = _check(report, engine, store)

    # a German export: every decimal-comma value arrives as the number it is
    f, mine, stored = files["export_de.csv"]
    assert f.rows_written == 8 and f.rejected == {"malformed": 1}
    assert _details(mine) == ["activity: not a number: '1.234,5'"]
    cow = stored[stored["cow_number"] == "2131"].sort_values("ts")
    assert cow["temp_c"].tolist() == [38.6, 38.8, 38.7, 39.0, 39.1]
    assert cow["activity"].tolist() == [14.5, 16.5, 18.5, 15.0, 15.5]
    assert stored["ph"].notna().all()

    # junk in a value column: malformed, the column and the cell named, the original text kept
    f, mine, stored = files["values.csv"]
    assert f.rejected == {"malformed": len(BAD_TEMPERATURES) + 4}
    assert "interval_minutes: empty, not positive, or over 1440 minutes" in _details(mine)
    assert f.rows_written == 3  # 38.6; the empty temperature (a reading without one); cow 8's 38.9
    temps = [p["values"]["temperature_c"] for p in mine["payload"] if p["detail"].startswith("temperature_c")]
    assert sorted(temps) == sorted([*BAD_TEMPERATURES, "12abc"])
    assert "activity: not a number: '0x10'" in _details(mine)
    assert any(d.startswith("row: 7 fields where the header has 6") for d in _details(mine))
    assert "footer" not in f.rejected
    assert stored.sort_values("ts")["temp_c"].tolist()[:1] == [38.6]
    assert stored["temp_c"].isna().sum() == 1  # the empty cell, and only it

    # a comma file with a consistently decimal-comma column, and a tab file with them
    f, _, stored = files["comma.csv"]
    assert f.rows_written == 4 and sorted(stored["temp_c"]) == [38.0, 38.1, 38.2, 38.3]
    f, _, stored = files["tabs.tsv"]
    assert f.rows_written == 3 and sorted(stored["activity"]) == [10.5, 11.5, 12.5]

    # long cow numbers: never cut, one animal each; over 64 characters rejected with the reason
    f, mine, stored = files["long.csv"]
    assert f.rows_written == 6 and f.rejected == {"malformed": 1}
    assert sorted(set(stored["cow_number"])) == sorted([*C33, *C32, C64])
    assert _details(mine) == ["cow_number: cow number of 65 characters (at most 64)"]
    assert mine["payload"].iloc[0]["values"]["cow_number"] == C65

    # look-alikes: zero-width characters, BOM, spaces, NFC/NFD are one animal per number
    f, _, stored = files["alike.csv"]
    assert f.rows_written == len(LOOK_ALIKES) and f.cows == 2
    assert stored["cow_number"].value_counts().to_dict() == {"2131": 6, unicodedata.normalize("NFC", "Müller-1"): 3}

    # NUL and control characters: the row is rejected, the file and the rest of the import go on
    f, mine, stored = files["control.csv"]
    assert f.rejected == {"malformed": 7} and f.rows_written == 3
    assert sorted(set(stored["cow_number"])) == ["1' OR '1'='1", "9"]  # a quote is data, stored as given
    details = _details(mine)
    for want in ["cow_number: control character NUL in the cow number",
                 "cow_number: control character U+0001 in the cow number",
                 "cow_number: control character U+0009 in the cow number",
                 "cow_number: control character U+007F in the cow number",
                 "temperature_c: not a number: '38\\x00.6'", "status: control character in the status",
                 "status: status of 33 characters (at most 32)"]:
        assert want in details, details
    assert {p["values"]["cow_number"] for p in mine["payload"]} >= {"21\x0031", "21\x0131"}
    assert mine["entity_ref"].isna().sum() >= 4  # no unusable cow number stored as a reference

    # mixed delimiters: a line split by the wrong delimiter is one malformed row, kept as read
    f, mine, stored = files["mixed.csv"]
    assert f.rows_written == 2 and f.rejected == {"malformed": 2}
    assert sorted(stored["temp_c"]) == [38.6, 38.7]
    values = [p["values"]["cow_number"] for p in mine["payload"]]
    assert f"4,{ts(1)},10,20,38.6" in values and f"4;{ts(2)};10;20;38,6;7" in values

    # the same files again: nothing changes
    again = import_paths(_write(tmp_path / "in"), store=store, engine=engine, now=NOW)
    assert {f.status for f in again.files} == {"unchanged"}
    assert len(_rejections(engine)) == sum(f.rows_rejected for f in report.files)


def test_a_file_that_breaks_the_store_fails_alone(stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """An error no rule foresees (here the store refusing one file's readings) fails that file
    with its reason; the files before and after it are imported, and no farm is left of it."""
    store, engine = stores
    paths = []
    for i, name in enumerate(["a", "b", "c"]):
        path = tmp_path / name / f"{name}.csv"
        path.parent.mkdir()
        path.write_text(f"{HEADER}\n{i + 1},{ts(i)},10,20,38.6,\n")
        paths.append(path)
    write = store.write_bolus

    def refuses_b(frame: pd.DataFrame) -> int:
        if (frame["ts"] == pd.Timestamp(ts(1))).any():
            raise ValueError("the store refused a value (the test)")
        return write(frame)

    monkeypatch.setattr(store, "write_bolus", refuses_b)
    report = import_paths(paths, store=store, engine=engine, now=NOW)
    by = {Path(f.path).name: f for f in report.files}
    assert [by[n].status for n in ("a.csv", "b.csv", "c.csv")] == ["imported", "failed", "imported"]
    assert by["b.csv"].error_reason == "import_error" and "the store refused a value" in (by["b.csv"].error or "")
    assert by["b.csv"].rows_read == by["b.csv"].rows_rejected == 1
    assert not report.ok and len(store.read_bolus(T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=1))) == 2
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM imported_files")).scalar_one() == 2
    assert _rejections(engine)["reason"].tolist() == ["import_error"]


def test_a_concurrent_import_of_the_same_file_keeps_the_record_of_the_one_that_wrote(  # type: ignore[no-untyped-def]
        stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Import A reads the store after import B (same file, started together) wrote its rows: A
    finds them all ``duplicate``. B's record ("3 written") stays, A reports it, and the file's
    rejections are B's, not three ``duplicate``."""
    store, engine = stores
    path = tmp_path / "f" / "x.csv"
    path.parent.mkdir()
    path.write_text(f"{HEADER}\n" + "".join(f"1,{ts(i)},10,20,38.6,\n" for i in range(3)) + "1,nope,10,1,38,\n")
    read = store.read_bolus
    other: list[ImportReport] = []

    def b_finishes_first(*args: Any, **kwargs: Any) -> pd.DataFrame:
        if not other:
            monkeypatch.setattr(store, "read_bolus", read)
            other.append(import_paths([path], store=store, engine=engine, now=NOW))
        return read(*args, **kwargs)

    monkeypatch.setattr(store, "read_bolus", b_finishes_first)
    a = import_paths([path], store=store, engine=engine, now=NOW).files[0]
    b = other[0].files[0]
    assert (b.status, b.rows_written, b.rejected) == ("imported", 3, {"malformed": 1})
    assert (a.status, a.rows_written, a.rejected) == ("unchanged", 3, {"malformed": 1})
    with engine.connect() as conn:
        records = conn.execute(sa.text("SELECT rows_written, rows_rejected FROM imported_files")).all()
    assert [tuple(r) for r in records] == [(3, 1)]
    assert _rejections(engine)["reason"].tolist() == ["malformed"]
    assert len(store.read_bolus(T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=1))) == 3


def test_two_imports_at_once_on_postgresql_record_one_import(pg_url: str, tmp_path: Path) -> None:
    """Two real ``import_paths`` in two threads on the same files: the readings once, one record
    per file, and no record says fewer rows were written than were."""
    import threading

    upgrade_herd_db(pg_url, features_path=str(tmp_path / "features"))
    schema = open_sensor_store(pg_url)
    schema.ensure_schema()
    schema.close()
    paths = []
    for k in range(3):
        path = tmp_path / "farm" / f"x{k}.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"{HEADER}\n" + "".join(f"{c},{ts(i + 50 * k)},10,{i},38.6,\n"
                                                for c in range(1, 6) for i in range(40)))
        paths.append(path)
    results: list[ImportReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        engine = make_engine(pg_url)
        store = open_sensor_store(pg_url)
        try:
            barrier.wait()
            results.append(import_paths(paths, store=store, engine=engine, now=NOW))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()
            engine.dispose()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 2, errors
    lines = [f.line() for r in results for f in r.files]
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        records = conn.execute(sa.text("SELECT file_name, rows_written, rows_rejected FROM imported_files")).all()
    assert sorted(r[0] for r in records) == ["x0.csv", "x1.csv", "x2.csv"], lines
    store = open_sensor_store(pg_url)
    stored = store.read_bolus(T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=3))
    store.close()
    assert len(stored) == 3 * 200 and not stored.duplicated(["animal_id", "ts"]).any(), lines
    for name, written, rejected in records:  # the record is the import that wrote the rows
        assert (written, rejected) == (200, 0), (name, lines)
    for r in results:
        assert r.ok and all(f.rows_read == 200 for f in r.files), lines
    engine.dispose()


# ---------------------------------------------------------------------------- the command


def _smx_import(tmp_path: Path, db: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_HERD", "SMX_SENSOR", "MLFLOW_"))}
    env.update({"SMX_HOME": str(tmp_path / "home"), "SMX_HERD_DB_URL": db or f"sqlite:///{tmp_path / 'herd.db'}",
                "SMX_SENSOR_STORE_URL": db or f"sqlite:///{tmp_path / 'sensors.db'}",
                "SMX_RETENTION_READINGS_DAYS": "3650"})
    return subprocess.run([sys.executable, "-m", "smx_assets.cli", "import", *args, "--json"], env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_smx_import_refuses_devices_and_fifos_and_always_prints_the_report(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """``smx import /dev/zero pipe.csv nonexistent/x.csv nul.csv Kühe.csv /etc/hostname.csv``:
    the device and the FIFO are refused in one line each (nothing hangs), the missing files are
    unreadable, the file with a NUL in a cow number is imported with that row malformed (it
    used to end the whole command on PostgreSQL), the Latin-1 file name is imported, the report
    is printed, and only the farm of the imported files exists."""
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    farm = tmp_path / "farm"
    farm.mkdir()
    good = farm / "nul.csv"
    good.write_text(f"{HEADER}\n2131,{ts(0)},10,20,38.6,\n21\x0031,{ts(1)},10,20,38.6,\n")
    latin1 = Path(os.fsdecode(bytes(farm) + b"/K\xfche.csv"))  # not UTF-8: made on an old system
    latin1.write_text(f"{HEADER}\n2132,{ts(0)},10,20,38.6,\n")
    run = _smx_import(tmp_path, db, "/dev/zero", str(fifo), str(tmp_path / "nonexistent" / "x.csv"), str(good),
                      str(latin1), "/etc/hostname.csv")
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    by = {Path(f["path"]).name: f for f in report["files"]}
    assert by["zero"]["error_reason"] == by["pipe.csv"]["error_reason"] == "not_a_file"
    assert "character device" in by["zero"]["error"] and "FIFO" in by["pipe.csv"]["error"]
    assert by["x.csv"]["error_reason"] == "unreadable" and by["hostname.csv"]["error_reason"] == "unreadable"
    assert (by["nul.csv"]["rows_written"], by["nul.csv"]["rejected"]) == (1, {"malformed": 1})
    assert by[latin1.name]["status"] == "imported" and by[latin1.name]["rows_written"] == 1
    lines = [ln for ln in run.stderr.splitlines() if "/dev/zero" in ln]
    assert lines == ["/dev/zero: cannot import (not_a_file): not a regular file (a character device): "
                     "only files are imported"]
    assert "Traceback" not in run.stderr
    engine = sa.create_engine(db or f"sqlite:///{tmp_path / 'herd.db'}")
    with engine.connect() as conn:
        farms = [r[0] for r in conn.execute(sa.text("SELECT name FROM farms"))]
        names = sorted(r[0] for r in conn.execute(sa.text("SELECT file_name FROM imported_files")))
        reasons = sorted(r[0] for r in conn.execute(sa.text("SELECT reason FROM rejected_readings")))
    engine.dispose()
    assert farms == ["farm"]  # no 'dev', 'nonexistent', 'etc' or tmp folder farm of the failed files
    assert names == ["K\ufffdhe.csv", "nul.csv"]
    assert reasons == ["malformed", "not_a_file", "not_a_file", "unreadable", "unreadable"]

    if backend == "sqlite":  # refused before any store is opened: the same on both
        bad_tz = _smx_import(tmp_path, db, str(good), "--timezone", "Mars/Olympus")
        assert bad_tz.returncode == 2 and json.loads(bad_tz.stdout)["ok"] is False


def test_smx_import_json_when_the_stores_cannot_be_opened(tmp_path: Path) -> None:
    """PostgreSQL refuses the connection: ``--json`` still prints a report (``ok: false`` and the
    error), one error line on standard error, exit 1, the password nowhere."""
    good = tmp_path / "farm" / "x.csv"
    good.parent.mkdir()
    good.write_text(f"{HEADER}\n2131,{ts(0)},10,20,38.6,\n")
    run = _smx_import(tmp_path, "postgresql+psycopg2://smx:Pw-9f3kQ@127.0.0.1:1/smx", str(good))
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] is False and report["files"] == [] and "OperationalError" in report["error"]
    assert "Pw-9f3kQ" not in run.stdout + run.stderr and "Traceback" not in run.stderr
    assert len([ln for ln in run.stderr.splitlines() if ln.startswith("smx import")]) == 1, run.stderr


def test_numbers_rule_on_single_cells() -> None:
    """The rule of ``cells``, cell by cell (what the README's table states)."""
    from smx_assets.domain.importers.cells import cow_number, decimal_comma, parse_numbers

    values, problems = parse_numbers(["38.6", " 38 ", "-1.5e2", "", None, "38,6", "12abc", "1e400", "nan"], True)
    assert values[:3].tolist() == [38.6, 38.0, -150.0] and np.isnan(values[3:5]).all() and values[5] == 38.6
    assert problems[:6] == [None] * 6 and all(problems[6:])
    assert decimal_comma(["38,6", "39"], ",") and not decimal_comma(["38,6", "39.1"], ",")
    assert decimal_comma(["38.6"], ";")
    assert cow_number(2131.0) == ("2131", None) and cow_number("2131\u200b") == ("2131", None)
    assert cow_number("Mu\u0308ller") == ("M\u00fcller", None) and cow_number(" ") == (None, None)
    assert cow_number("21\x0031")[0] is None and cow_number(2131.5)[0] is None


# ------------------------------------------------------------------ a Heatime spreadsheet


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    """A minimal .xlsx (one sheet, inline strings), as a spreadsheet program would save it."""
    import zipfile
    from xml.sax.saxutils import escape

    def cell(ref: str, v: object) -> str:
        if v is None or v == "":
            return ""
        if isinstance(v, (int, float)):
            return f'<c r="{ref}"><v>{v}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(v))}</t></is></c>'

    sheet = "".join(f'<row r="{i + 1}">' + "".join(cell(f"{chr(65 + j)}{i + 1}", v) for j, v in enumerate(r))
                    + "</row>" for i, r in enumerate(rows))
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'))
        z.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            '</Relationships>'))
        z.writestr("xl/workbook.xml", (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} xmlns:r="{rel}"><sheets><sheet name="Kühe" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>'))
        z.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            '</Relationships>'))
        z.writestr("xl/worksheets/sheet1.xml",
                   f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><sheetData>{sheet}</sheetData></worksheet>')
    return path


def test_a_german_heatime_export_with_junk_long_and_look_alike_cow_numbers(stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """German headers; text in the activity column is malformed (the cow's last row too, which
    was once a ``footer``); a zero-width space joins its cow; 33-character cows stay apart."""
    store, engine = stores
    act = "Rohe Aktivitätsdaten"
    header = ["Kuhnummer", "Termin", "Zeit", act, "Laktationsnummer", "Laktationstage"]
    day = (T0 + pd.Timedelta(days=3)).strftime("%Y-%m-%d")
    path = tmp_path / "stall" / "Kühe_KW49.xlsx"
    path.parent.mkdir()
    _xlsx(path, [header,
                 [2131, day, "00:00", 20, 2, 100],
                 [2131, day, "02:00", "12abc", 2, 100],
                 ["2131\u200b", day, "04:00", 22, 2, 100],
                 [2131, day, "06:00", "", 2, 100],
                 [2131, day, "08:00", "0x10", "", ""],
                 [C33[0], day, "00:00", 30, 1, 50],
                 [C33[1], day, "00:00", 31, 1, 50],
                 [C33[1], day, "02:00", "", "", ""]])
    report = import_paths([path], store=store, engine=engine, now=NOW)
    f = report.files[0]
    assert f.file_format == "heatime_xlsx", f.line()
    assert f.rows_written == 4 and f.rejected == {"malformed": 2, "empty_activity": 1, "footer": 1}
    assert f.columns == {act: {"read": 6, "written": 4, "rejected": 2}}
    mine = _check(report, engine, store)[path.name][1]
    assert _details(mine) == [f"{act}: not a number: '0x10'", f"{act}: not a number: '12abc'"]
    stored = _check(report, engine, store)[path.name][2]
    assert stored.groupby("cow_number")["activity"].apply(sorted).to_dict() == {
        "2131": [20.0, 22.0], C33[0]: [30.0], C33[1]: [31.0]}
