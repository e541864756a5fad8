"""The open long format, overlapping exports, time zones, and the command and job around it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.importers import import_paths
from smx_assets.domain.sensor_store.factory import open_sensor_store
from smx_assets.domain.sql_engine import make_engine
from smx_assets_tests.realdata import bovheat_dir

NOW = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.fixture
def stores(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'herd.db'}"
    upgrade_herd_db(url)
    engine = make_engine(url)
    store = open_sensor_store(f"sqlite:///{tmp_path / 'sensors.db'}")
    store.ensure_schema()
    yield store, engine
    store.close()
    engine.dispose()


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_bolus_csv_with_every_signal_and_every_row_reason(stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, engine = stores
    good = {"cow_number": 12, "interval_minutes": 10, "activity": 14.0, "temperature_c": 38.9, "ph": 6.3}
    rows = [
        {**good, "timestamp": "2025-05-01T08:00:00"},
        {**good, "timestamp": "2025-05-01T08:10:00", "ph": None},  # no pH: still a reading
        {**good, "timestamp": "2025-05-01T08:00:00"},  # identical repeat -> duplicate
        {**good, "timestamp": "2025-05-01T08:10:00", "activity": 99.0},  # same key, other values -> conflict
        {**good, "timestamp": "2025-05-01T08:20:00", "temperature_c": 98.98},  # artefact -> out_of_range
        {**good, "timestamp": "not a time"},  # -> malformed
        {**good, "timestamp": "2025-05-01T08:30:00", "interval_minutes": 0},  # -> malformed
        {**good, "timestamp": "2025-05-01T08:40:00", "activity": None, "temperature_c": None, "ph": None},
        {**good, "timestamp": "2030-01-01T00:00:00"},  # after the import's clock -> future
        {**good, "cow_number": None, "timestamp": "2025-05-01T08:00:00"},  # -> malformed
    ]
    path = write_csv(tmp_path / "bolus.csv", rows)
    report = import_paths([path], farm="f", store=store, engine=engine, now=NOW)
    f = report.files[0]
    assert report.ok and f.file_format == "long_csv"
    assert f.rows_read == 10 and f.rows_written == 2
    assert f.rejected == {"duplicate": 1, "conflict": 1, "out_of_range": 1, "malformed": 3,
                          "empty_reading": 1, "future": 1}
    got = store.read_bolus("2025-05-01", "2025-05-02")
    assert got["interval_s"].tolist() == [600, 600]
    assert got["activity"].tolist() == [14.0, 14.0]  # the first copy is kept, not the conflicting one
    assert np.isnan(got["ph"].iloc[1]) and got["temp_c"].tolist() == [38.9, 38.9]
    with engine.connect() as conn:
        animal = conn.execute(sa.text("SELECT cow_number, bolus_type FROM animals")).one()
    assert tuple(animal) == ("12", "temp_activity_ph")


def test_overlapping_exports_deduplicate_or_reject_as_conflict(stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, engine = stores
    base = {"cow_number": "7", "interval_minutes": 120}
    a = write_csv(tmp_path / "a.csv", [
        {**base, "timestamp": "2019-02-03T22:00:00", "activity": 30},
        {**base, "timestamp": "2019-02-04T00:00:00", "activity": 40},
        {**base, "timestamp": "2019-02-04T02:00:00", "activity": 50},
    ])
    b = write_csv(tmp_path / "b.csv", [
        {**base, "timestamp": "2019-02-04T00:00:00", "activity": 40},  # identical copy
        {**base, "timestamp": "2019-02-04T02:00:00", "activity": 55},  # disagrees with a.csv
        {**base, "timestamp": "2019-02-04T04:00:00", "activity": 60},
    ])
    first = import_paths([a], farm="f", store=store, engine=engine, now=NOW)
    second = import_paths([b], farm="f", store=store, engine=engine, now=NOW)
    assert first.files[0].rows_written == 3
    assert second.files[0].rejected == {"duplicate": 1, "conflict": 1} and second.files[0].rows_written == 1
    got = store.read_bolus("2019-02-01", "2019-02-05")
    assert got["activity"].tolist() == [30, 40, 50, 60]  # the stored copy stays
    assert (got["interval_s"] == 7200).all() and got["temp_c"].isna().all()
    with engine.connect() as conn:
        reasons = dict(conn.execute(sa.text("SELECT reason, COUNT(*) FROM rejected_readings GROUP BY reason")).all())
    assert reasons == {"duplicate": 1, "conflict": 1}
    again = import_paths([a, b], farm="f", store=store, engine=engine, now=NOW)
    assert [f.status for f in again.files] == ["unchanged", "unchanged"]
    assert len(store.read_bolus("2019-02-01", "2019-02-05")) == 4


def test_naive_times_are_local_to_the_timezone_and_offsets_are_kept(stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, engine = stores
    path = write_csv(tmp_path / "tz.csv", [
        {"cow_number": 1, "timestamp": "2019-07-01T12:00:00", "activity": 1},  # Berlin summer: UTC+2
        {"cow_number": 1, "timestamp": "2019-07-01T12:00:00Z", "activity": 2},  # explicit UTC
        {"cow_number": 1, "timestamp": "2019-03-31T02:30:00", "activity": 3},  # does not exist in Berlin
    ])
    report = import_paths([path], farm="f", timezone="Europe/Berlin", store=store, engine=engine, now=NOW)
    assert report.files[0].rejected == {"malformed": 1}
    got = store.read_bolus("2019-01-01", "2020-01-01")
    assert got["ts"].tolist() == [pd.Timestamp("2019-07-01T10:00Z"), pd.Timestamp("2019-07-01T12:00Z")]


def test_parquet_activity_only_and_wrong_layouts(stores, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, engine = stores
    pq = tmp_path / "collar.parquet"
    pd.DataFrame({"cow_number": ["A1", "A1"], "timestamp": pd.to_datetime(["2019-01-01 00:00", "2019-01-01 02:00"]),
                  "interval_minutes": [120, 120], "activity": [10.0, 20.0]}).to_parquet(pq)
    header_only = tmp_path / "header.csv"
    header_only.write_text("cow_number,timestamp,activity\n")
    no_signal = write_csv(tmp_path / "nosignal.csv", [{"cow_number": 1, "timestamp": "2019-01-01"}])
    odd = tmp_path / "notes.md"
    odd.write_text("hello")
    report = import_paths([pq, header_only, no_signal, odd], farm="f", store=store, engine=engine, now=NOW)
    by = {Path(f.path).name: f for f in report.files}
    assert by["collar.parquet"].rows_written == 2 and by["collar.parquet"].file_format == "long_parquet"
    assert by["header.csv"].error_reason == "empty_file"
    assert by["nosignal.csv"].error_reason == "wrong_layout" and by["nosignal.csv"].rows_rejected == 1
    assert by["notes.md"].error_reason == "unsupported_format"
    assert not report.ok


def test_smx_import_command_reports_per_file_and_exits_non_zero(smx_home: Path) -> None:
    data = bovheat_dir()
    cmd = [sys.executable, "-m", "smx_assets.cli", "import", str(data / "weekly" / "February 4 2019.xlsx"),
           str(data / "bad_input" / "zero_byte_file.xls"), "--farm", "dairy", "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)  # stdout carries the JSON report alone
    assert report["rows_read"] == report["rows_written"] + report["rows_rejected"] == 7249
    # 2019 lies before the default 60-day readings retention: counted, not written, one warning
    assert report["rows_written"] == 0 and report["rejected_by_reason"]["beyond_retention"] == 6586
    warnings = [ln for ln in run.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "SMX_RETENTION_READINGS_DAYS" in warnings[0] and "6586 readings" in warnings[0]
    lines = [ln for ln in run.stderr.splitlines() if "zero_byte_file.xls" in ln]
    assert lines == [f"{data / 'bad_input' / 'zero_byte_file.xls'}: cannot import (zero_byte): the file is empty (0 bytes)"]
    assert "Traceback" not in run.stderr
    bad_tz = subprocess.run(cmd[:5] + ["--timezone", "Mars/Olympus"], capture_output=True, text=True, timeout=120)
    assert bad_tz.returncode == 2 and "unknown time zone" in bad_tz.stderr and "Traceback" not in bad_tz.stderr


def test_import_job_runs_the_same_importer_in_dagster(smx_home: Path, tmp_path: Path) -> None:
    from smx_assets.defs.ingest.jobs import import_job
    from smx_assets.resources import default_resources

    recent = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=2)).floor("h").isoformat()
    path = write_csv(tmp_path / "x.csv", [{"cow_number": 3, "timestamp": "2019-01-01T00:00:00", "activity": 5},
                                          {"cow_number": 3, "timestamp": recent, "activity": 6}])
    resources = {k: v for k, v in default_resources().items() if k in ("herd_db", "sensor_store")}
    upgrade_herd_db(resources["herd_db"].url)  # the schema is migrated at start-up, not by the job
    result = import_job.execute_in_process(
        run_config={"ops": {"import_exports": {"config": {"paths": [str(path)], "farm": "ui-farm"}}}},
        resources=resources)
    assert result.success
    mat = result.output_for_node("import_exports")
    assert mat["rows_written"] == 1 and mat["ok"]
    assert mat["rejected_by_reason"] == {"beyond_retention": 1}  # 2019: before SMX_RETENTION_READINGS_DAYS
    assert len(mat["warnings"]) == 1 and "SMX_RETENTION_READINGS_DAYS" in mat["warnings"][0]
    failing = import_job.execute_in_process(
        run_config={"ops": {"import_exports": {"config": {"paths": [str(tmp_path / "missing.xlsx")]}}}},
        resources=resources, raise_on_error=False)
    assert not failing.success
    failure = failing.failure_data_for_node("import_exports")
    assert failure is not None and "missing.xlsx" in str(failure)
