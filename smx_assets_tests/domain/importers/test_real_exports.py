"""Every file of the real BovHEAT exports through ``import_paths``, on PostgreSQL and on InfluxDB.

Expected counts are recomputed here from the files with plain pandas (not copied from a run):
a weekly file's rows split into written (activity present and below the collar's ceiling of
191), ``capped``, ``empty_activity`` and ``cow_without_data``; a fifty-days file (only the
vendor's heat index, no raw activity) into ``footer`` and ``no_signal``; the bad inputs fail
whole with their reason. Then: what the stores hold matches, and re-importing changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from smx_assets.domain.importers import ImportReport, import_paths
from smx_assets_tests.domain.importers.stores import KINDS, import_stores
from smx_assets_tests.realdata import bovheat_dir

DATA = bovheat_dir()
pytestmark = pytest.mark.slow  # ~40 s per backend: every real file, imported twice

FOLDERS = ["weekly", "fifty_days", "bad_input"]
ALL_FILES = sorted(p for f in FOLDERS for p in (DATA / f).iterdir())
FAILURES = {"empty.txt": "zero_byte", "zero_byte_file.xls": "zero_byte", "text_malformed.xlsx": "wrong_layout"}
SPAN = (pd.Timestamp("2018-01-01", tz="UTC"), pd.Timestamp("2020-01-01", tz="UTC"))


def expected_counts(path: Path) -> dict[str, int]:
    """Rows per outcome of one real file, computed independently of the importer."""
    if path.name in FAILURES:
        return {}
    df = pd.read_excel(path, engine="calamine")
    cow = next(c for c in df.columns if c in ("Cow Number", "Kuhnummer"))
    if "Raw Activity Data" not in df.columns:
        lact = next(c for c in df.columns if c in ("Lactation Number", "Laktationnummer"))
        dim = next(c for c in df.columns if c in ("Days in Lactation", "Laktationstage"))
        last = df.index.isin(df.groupby(cow).tail(1).index)
        footer = int((last & df[lact].isna() & df[dim].isna()).sum())
        return {"footer": footer, "no_signal": len(df) - footer}
    act = df["Raw Activity Data"]
    cow_has = act.notna().groupby(df[cow]).transform("any")
    out = {"written": int((act.notna() & (act < 191)).sum()), "capped": int((act >= 191).sum()),
           "empty_activity": int((act.isna() & cow_has).sum()), "cow_without_data": int((~cow_has).sum())}
    return {k: v for k, v in out.items() if v or k == "written"}


@pytest.fixture(scope="module", params=KINDS)
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """(first report, second report, engine, store) after importing every file twice."""
    with import_stores(request.param, request, tmp_path_factory.mktemp("herd"), "imp") as (store, engine):
        paths = [DATA / f for f in FOLDERS]
        first = import_paths(paths, store=store, engine=engine)
        snapshot = _snapshot(engine, store)
        second = import_paths(paths, store=store, engine=engine)
        yield first, second, engine, store, snapshot


def _snapshot(engine: sa.Engine, store) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in ("farms", "animals", "lactations", "inseminations", "rejected_readings", "imported_files")}
        counts["rejected_at"] = str(conn.execute(sa.text("SELECT MAX(rejected_at) FROM rejected_readings")).scalar_one())
    readings = store.read_bolus(*SPAN)
    return {**counts, "readings": readings}


def _by_name(report: ImportReport) -> dict[str, object]:
    return {Path(f.path).name: f for f in report.files}


def test_every_real_file_is_counted_per_reason(imported: tuple) -> None:
    first, *_ = imported
    files = _by_name(first)
    assert sorted(files) == sorted(p.name for p in ALL_FILES)  # every file, bad ones included
    for path in ALL_FILES:
        f = files[path.name]
        assert f.rows_read == f.rows_written + f.rows_rejected, f
        assert sum(f.rejected.values()) == f.rows_rejected, f
        if path.name in FAILURES:
            assert f.status == "failed" and f.error_reason == FAILURES[path.name]
            assert path.name in f.line() and f.error_reason in f.line()
            continue
        want = expected_counts(path)
        assert f.status == "imported"
        assert f.rows_read == len(pd.read_excel(path, engine="calamine"))
        assert f.rows_written == want.pop("written", 0), f
        assert f.rejected == want, f
    assert not first.ok  # three bad files: the command exits non-zero
    assert files["text_malformed.xlsx"].rows_read == 8  # its data rows are counted, not ignored
    # nothing duplicated or conflicting in these exports: the midnight overlaps are empty in one copy
    assert "conflict" not in first.rejected_by_reason()


def test_rejected_readings_hold_the_same_counts(imported: tuple) -> None:
    first, _second, engine, _store, _snap = imported
    with engine.connect() as conn:
        stored = pd.DataFrame(conn.execute(sa.text(
            "SELECT reason, COUNT(*) AS n FROM rejected_readings WHERE source = 'import' GROUP BY reason")).all(),
            columns=["reason", "n"]).set_index("reason")["n"].to_dict()
        payloads = [r[0] for r in conn.execute(sa.text(
            "SELECT payload FROM rejected_readings WHERE reason = 'no_signal'")).all()[:50]]
    want = first.rejected_by_reason()
    want["zero_byte"] = 2  # each zero-byte file is one stored record (it has no rows)
    assert stored == want
    # the answer key never leaves the file, not even inside a rejection's payload
    for p in payloads:
        payload = p if isinstance(p, dict) else __import__("json").loads(p)
        assert "Activity Change" not in payload["values"] and "Aktivität ändern" not in payload["values"]


def test_the_store_holds_exactly_the_written_readings(imported: tuple) -> None:
    first, _second, engine, _store, snap = imported
    readings = snap["readings"]
    assert len(readings) == first.rows_written == sum(expected_counts(DATA / "weekly" / p.name)["written"]
                                                      for p in (DATA / "weekly").iterdir())
    assert (readings["interval_s"] == 7200).all()  # 2-hour collar readings
    assert readings["temp_c"].isna().all() and readings["ph"].isna().all()  # activity only
    assert readings["activity"].between(0, 190).all()
    # the farm's own cow numbers are kept; the two folders are two farms
    with engine.connect() as conn:
        animals = pd.DataFrame(conn.execute(sa.text(
            "SELECT a.cow_number, f.name AS farm FROM animals a JOIN farms f ON f.id = a.farm_id")).all())
    assert set(animals["farm"]) == {"weekly", "fifty_days"}
    weekly_cows = set().union(*(pd.read_excel(p, engine="calamine")["Cow Number"].astype(str)
                                for p in (DATA / "weekly").iterdir()))
    assert set(animals.loc[animals["farm"] == "weekly", "cow_number"]) == weekly_cows


def test_lactations_and_inseminations_from_the_herd_columns(imported: tuple) -> None:
    _first, _second, engine, _store, _snap = imported
    df = pd.read_excel(DATA / "weekly" / "February 11 2019.xlsx", engine="calamine")
    row = df[df["Days in Lactation"].notna()].iloc[0]
    calving = (row["Date"] - pd.Timedelta(days=int(row["Days in Lactation"]))).normalize()
    bred = df[df["Effective Breeding Date"].notna()].iloc[0]
    with engine.connect() as conn:
        got = conn.execute(sa.text(
            "SELECT l.calving_at FROM lactations l JOIN animals a ON a.id = l.animal_id "
            "JOIN farms f ON f.id = a.farm_id WHERE f.name = 'weekly' AND a.cow_number = :c "
            "AND l.lactation_number = :n"), {"c": str(row["Cow Number"]), "n": int(row["Lactation Number"])}).all()
        ins = conn.execute(sa.text(
            "SELECT i.at FROM inseminations i JOIN animals a ON a.id = i.animal_id "
            "JOIN farms f ON f.id = a.farm_id WHERE f.name = 'weekly' AND a.cow_number = :c"),
            {"c": str(bred["Cow Number"])}).all()
        heifer_lactations = conn.execute(sa.text(
            "SELECT COUNT(*) FROM lactations l JOIN animals a ON a.id = l.animal_id "
            "WHERE a.status LIKE '%Heifer%'")).scalar_one()
    assert [pd.Timestamp(g[0]) for g in got] == [calving]
    assert pd.Timestamp(bred["Effective Breeding Date"]) in [pd.Timestamp(i[0]) for i in ins]
    assert heifer_lactations == 0  # heifers have no days in lactation: no calving is invented


def test_reimport_changes_nothing(imported: tuple) -> None:
    first, second, engine, store, snap = imported
    files = _by_name(second)
    for name, f in files.items():
        want = "failed" if name in FAILURES else "unchanged"
        assert f.status == want, f
    assert second.rows_written == first.rows_written and second.rejected_by_reason() == first.rejected_by_reason()
    after = _snapshot(engine, store)
    pd.testing.assert_frame_equal(after.pop("readings"), snap["readings"])
    assert after == {k: v for k, v in snap.items() if k != "readings"}
