"""The score files' rules on a real folder: a rerun replaces a bucket (per shard), never
duplicates; loose files supersede the compacted day; a compaction racing a re-score loses
nothing; a killed write's temporary file is never read and is cleaned up later; retention drops
whole days."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from smx_assets.domain.score_store import files as score_files
from smx_assets.domain.score_store.files import STALE_TMP_S, ScoreFiles, bucket_table

DAY = pd.Timestamp("2026-11-20", tz="UTC")
B1, B2 = DAY + pd.Timedelta(hours=9), DAY + pd.Timedelta(hours=9, minutes=10)


def _write(files: ScoreFiles, bucket: pd.Timestamp, animals: list[int], score: float, shard: str = "",
           lineage: int = 1) -> None:
    n = len(animals)
    files.write_bucket(bucket, bucket_table(np.full(n, lineage), np.array(animals), np.full(n, score)), shard)


def _scores(files: ScoreFiles) -> dict[tuple[pd.Timestamp, int], float]:
    frame = files.read_day(DAY)
    assert not frame.duplicated(["lineage_id", "animal_id", "bucket_start"]).any()
    return {(pd.Timestamp(b), int(a)): float(s) for b, a, s in zip(frame["bucket_start"], frame["animal_id"],
                                                                    frame["score"])}


@pytest.fixture
def files(tmp_path: Path) -> ScoreFiles:
    return ScoreFiles(str(tmp_path / "features"))


def test_a_rerun_replaces_the_bucket_and_an_empty_rerun_empties_it(files: ScoreFiles) -> None:
    _write(files, B1, [1, 2, 3], 0.1)
    _write(files, B2, [1, 2, 3], 0.2)
    _write(files, B1, [1, 2], 0.5)  # the rerun scored two animals
    assert _scores(files) == {(B1, 1): 0.5, (B1, 2): 0.5, (B2, 1): 0.2, (B2, 2): 0.2, (B2, 3): 0.2}
    _write(files, B1, [], 0.0)  # a rerun found no readings: nothing of the bucket is kept
    assert {k for k in _scores(files) if k[0] == B1} == set()


def test_a_shard_rerun_replaces_only_its_shard(files: ScoreFiles) -> None:
    _write(files, B1, [1, 2], 0.1, "shard-1-of-2")
    _write(files, B1, [3, 4], 0.2, "shard-2-of-2")
    _write(files, B1, [1, 2], 0.7, "shard-1-of-2")
    assert _scores(files) == {(B1, 1): 0.7, (B1, 2): 0.7, (B1, 3): 0.2, (B1, 4): 0.2}


def test_loose_files_supersede_the_compacted_day_then_compact_into_it(files: ScoreFiles) -> None:
    _write(files, B1, [1, 2, 3], 0.1)
    _write(files, B2, [1, 2, 3], 0.2)
    report = files.compact_day(DAY)
    assert (report.scores, report.loose_files_removed) == (6, 2) and not files.loose_files(DAY)
    before = _scores(files)
    _write(files, B1, [1, 2, 3], 0.9)  # a late-data re-score of the compacted day
    assert _scores(files) == {**before, (B1, 1): 0.9, (B1, 2): 0.9, (B1, 3): 0.9}
    # a later sharded run of B2 (layout change): its shard's animals replaced, the others kept
    _write(files, B2, [2], 0.4, "shard-1-of-2")
    expected = {**before, (B1, 1): 0.9, (B1, 2): 0.9, (B1, 3): 0.9, (B2, 2): 0.4}
    assert _scores(files) == expected
    files.compact_day(DAY)
    assert _scores(files) == expected and not files.loose_files(DAY)
    stored = pq.read_table(files.day_path(DAY)).to_pandas()
    assert len(stored) == 6 and stored["animal_id"].is_monotonic_increasing  # at rest sorted by animal


def test_a_compaction_racing_a_rescore_keeps_the_rescore(files: ScoreFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(files, B1, [1, 2], 0.1)
    original = ScoreFiles._read_loose

    def rescored_meanwhile(self: ScoreFiles, f: score_files.LooseFile, *args: object) -> pd.DataFrame:
        frame = original(self, f, *args)
        _write(files, B1, [1, 2], 0.6)  # the re-score lands after compaction read the old file
        os.utime(f.path, (time.time() + 5, time.time() + 5))  # a distinct mtime on any clock
        return frame

    monkeypatch.setattr(ScoreFiles, "_read_loose", rescored_meanwhile)
    report = files.compact_day(DAY)
    monkeypatch.undo()
    assert report.loose_files_removed == 0 and len(files.loose_files(DAY)) == 1  # kept: it changed
    assert _scores(files) == {(B1, 1): 0.6, (B1, 2): 0.6}  # the loose file still supersedes
    files.compact_day(DAY)
    assert _scores(files) == {(B1, 1): 0.6, (B1, 2): 0.6} and not files.loose_files(DAY)


def test_a_killed_writes_temporary_file_is_never_read_and_is_cleaned_once_stale(files: ScoreFiles) -> None:
    _write(files, B1, [1], 0.1)
    folder = Path(files.bucket_path(B1)).parent
    fresh, stale = folder / "0910.parquet.tmp-aaaa", folder / "0900.parquet.tmp-bbbb"
    fresh.write_bytes(b"PAR1 half a file")
    stale.write_bytes(b"PAR1 half a file")
    old = time.time() - STALE_TMP_S - 60
    os.utime(stale, (old, old))
    assert _scores(files) == {(B1, 1): 0.1} and len(files.loose_files(DAY)) == 1
    files.compact_day(DAY)
    assert fresh.exists() and not stale.exists()  # a run may still be writing the fresh one
    assert _scores(files) == {(B1, 1): 0.1}


def test_retention_drops_whole_days_and_bytes_are_counted(files: ScoreFiles) -> None:
    _write(files, B1, [1, 2], 0.1)
    _write(files, B1 + pd.Timedelta(days=1), [1, 2], 0.1)
    files.compact_day(DAY)
    assert files.bytes_at_rest() > 0 and len(files.days()) == 2
    assert files.drop_days_before(DAY + pd.Timedelta(days=1)) == ["2026-11-20"]
    assert [d.date().isoformat() for d in files.days()] == ["2026-11-21"]
    assert files.read_day(DAY).empty


def test_a_cows_read_decodes_only_its_row_groups_and_sees_a_replaced_day_file(
        files: ScoreFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    """One animal's rows come from the row groups its id falls in (the day file sorted by
    animal), equal to the whole file's rows of that animal; a re-compaction renames a new file
    over the day's path, and the next read uses the new file's footer, not the cached one."""
    monkeypatch.setattr(score_files, "DAY_ROW_GROUP", 100)
    animals = list(range(1, 201))
    for k in range(3):
        _write(files, B1 + k * pd.Timedelta(minutes=10), animals, 0.1 * (k + 1), lineage=1)
    files.compact_day(DAY)
    assert pq.ParquetFile(files.day_path(DAY)).metadata.num_row_groups == 6
    whole = files.read_day(DAY)
    with open(files.day_path(DAY), "rb") as fh:
        footer = files._footers.of(files.day_path(DAY), fh)
    assert footer.row_groups_of([7]) == [0] and footer.row_groups_of([150, 199]) == [4, 5]
    for animal in (1, 34, 100, 200):
        one = files.read_day(DAY, lineage_ids=[1], animal_ids=[animal])
        want = whole[whole["animal_id"] == animal].reset_index(drop=True)
        pd.testing.assert_frame_equal(one, want)
    assert files.read_day(DAY, lineage_ids=[2], animal_ids=[5]).empty
    assert files.read_days([DAY - pd.Timedelta(days=1), DAY], animal_ids=[9])["score"].tolist() == \
        pytest.approx([0.1, 0.2, 0.3])

    _write(files, B1, list(range(1, 261)), 0.9)  # a re-score with more cows: a new day file, other groups
    files.compact_day(DAY)
    assert files.read_day(DAY, animal_ids=[120])["score"].tolist() == pytest.approx([0.9, 0.2, 0.3])
    assert files.read_day(DAY, animal_ids=[250])["score"].tolist() == pytest.approx([0.9])


def test_read_days_is_read_day_of_each_day(files: ScoreFiles) -> None:
    """The days without loose files (framed together) and a day with them (merge_day) give
    read_day's rows, columns and order, day after day."""
    days = [DAY - pd.Timedelta(days=1), DAY, DAY + pd.Timedelta(days=1)]
    for k, day in enumerate(days):
        _write(files, day + pd.Timedelta(hours=9), [3, 1, 2], 0.1 * (k + 1), lineage=2)
        _write(files, day + pd.Timedelta(hours=8), [2, 1], 0.05 * (k + 1), lineage=1)
        if day != DAY:
            files.compact_day(day)
    for kwargs in ({}, {"animal_ids": [2]}, {"lineage_ids": [2]}, {"animal_ids": [1, 3], "lineage_ids": [1, 2]}):
        want = pd.concat([files.read_day(d, **kwargs) for d in days], ignore_index=True)
        pd.testing.assert_frame_equal(files.read_days(days, **kwargs), want)


def test_a_bucket_file_is_sorted_by_animal_and_a_one_cow_read_decodes_one_row_group(
        files: ScoreFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's buckets are read by every one-cow request until compaction: a bucket file holds
    its rows sorted by animal in row groups of BUCKET_ROW_GROUP, so a cow is one group to decode;
    what a one-cow read returns is what the whole file holds of that cow."""
    rng = np.random.default_rng(3)
    order = rng.permutation(30_000)  # 6 models of 5,000 animals, shuffled
    animals, lineage = np.repeat(np.arange(1, 5001), 6)[order], np.tile(np.arange(1, 7), 5000)[order]
    scores = rng.random(len(animals))
    files.write_bucket(B1, bucket_table(lineage, animals, scores))
    meta = pq.read_metadata(files.bucket_path(B1))
    assert meta.num_row_groups == -(-30_000 // score_files.BUCKET_ROW_GROUP) >= 3
    col = meta.schema.names.index("animal_id")
    bounds = [(meta.row_group(i).column(col).statistics.min, meta.row_group(i).column(col).statistics.max)
              for i in range(meta.num_row_groups)]
    assert all(hi <= lo2 for (_, hi), (lo2, _) in zip(bounds, bounds[1:]))  # sorted by animal

    decoded: list[list[int]] = []
    original = pq.ParquetFile.read_row_groups

    def counted(self: pq.ParquetFile, row_groups: list[int], *args: object, **kwargs: object) -> object:
        decoded.append(list(row_groups))
        return original(self, row_groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", counted)
    cow = files.read_day(DAY, animal_ids=[2345], lineage_ids=[2, 5])
    assert decoded == [[next(i for i, (lo, hi) in enumerate(bounds) if lo <= 2345 <= hi)]]
    monkeypatch.undo()
    whole = files.read_day(DAY)
    want = whole[(whole["animal_id"] == 2345) & whole["lineage_id"].isin([2, 5])]
    assert sorted(zip(cow["lineage_id"], cow["score"])) == sorted(zip(want["lineage_id"], want["score"]))
    assert len(cow) == 2
