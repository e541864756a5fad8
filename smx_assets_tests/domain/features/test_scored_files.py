"""A day's stored feature vectors, as drift monitoring reads them, when the shard count changed.

Scoring a bucket unsharded and later as shards (``SMX_SCORING_SHARDS`` raised, the bucket
re-scored) leaves both layouts' files in the day's folder; the reader must give each animal once,
from its newest file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from smx_assets.domain.features.storage import FeatureFiles

BUCKET = pd.Timestamp("2026-10-11 12:10", tz="UTC")


def _vectors(animals: list[int], value: float, bucket: pd.Timestamp = BUCKET) -> pd.DataFrame:
    return pd.DataFrame({"animal_id": animals, "bucket_start": bucket, "activity_ratio": value})


def _write(files: FeatureFiles, frame: pd.DataFrame, suffix: str = "") -> None:
    with files.scored_writer(suffix) as writer:
        writer.add(frame)


def test_one_layout_reads_every_file(tmp_path: Path) -> None:
    files = FeatureFiles(str(tmp_path))
    _write(files, _vectors([2, 4], 1.0), ".shard-0-of-2")
    _write(files, _vectors([1, 3], 1.0), ".shard-1-of-2")
    _write(files, _vectors([1, 2], 5.0, BUCKET + pd.Timedelta(minutes=10)))
    got = files.read_scored(BUCKET)
    assert got is not None and len(got) == 6
    assert sorted(got.loc[got["bucket_start"] == BUCKET, "animal_id"]) == [1, 2, 3, 4]


def test_a_bucket_rescored_under_a_new_shard_count_counts_each_animal_once(tmp_path: Path) -> None:
    files = FeatureFiles(str(tmp_path))
    _write(files, _vectors([1, 2, 3, 4], 1.0))  # unsharded: 1210.parquet
    old = tmp_path / "scored_features"
    [first] = list(old.rglob("1210.parquet"))
    os.utime(first, (time.time() - 60, time.time() - 60))
    _write(files, _vectors([2, 4], 2.0), ".shard-0-of-2")  # shard 0 re-scored, shard 1 not yet
    got = files.read_scored(BUCKET)
    assert got is not None
    assert got["animal_id"].tolist() == [1, 2, 3, 4]  # once each
    assert got.set_index("animal_id")["activity_ratio"].to_dict() == {1: 1.0, 2: 2.0, 3: 1.0, 4: 2.0}
