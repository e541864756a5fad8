"""Compacted day files: the measured write options hold on every compaction of a process.

pyarrow adds the ``use_byte_stream_split`` columns into the ``column_encoding`` dict it is given
and then refuses the pair: with both in the module's options the second ``compact_day`` of a
process (the daily compaction of two days, a re-compaction) raised ``ValueError``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from smx_assets.domain.score_store.files import ScoreFiles, bucket_table


def test_two_days_compact_in_one_process_with_the_measured_encodings(tmp_path: Path) -> None:
    files = ScoreFiles(str(tmp_path))
    rng = np.random.default_rng(1)
    written = {}
    for day in (pd.Timestamp("2026-11-01", tz="UTC"), pd.Timestamp("2026-11-02", tz="UTC")):
        for k in range(3):
            bucket = day + k * pd.Timedelta(minutes=10)
            animals = np.arange(1, 51, dtype="int32")
            scores = rng.random(50)
            files.write_bucket(bucket, bucket_table(np.full(50, 7 + k, "int32"), animals, scores))
            written[bucket] = scores
        report = files.compact_day(day)
        assert report.scores == 150 and report.loose_files_removed == 3
        meta = pq.ParquetFile(files.day_path(day)).metadata
        cols = {meta.schema.column(i).name: meta.row_group(0).column(i).encodings for i in range(meta.num_columns)}
        assert "BYTE_STREAM_SPLIT" in cols["score"]
        assert "DELTA_BINARY_PACKED" in cols["animal_id"] and "DELTA_BINARY_PACKED" in cols["bucket_start"]
        back = files.read_day(day)
        for bucket, frame in back.groupby("bucket_start"):
            np.testing.assert_array_equal(frame.sort_values("animal_id")["score"].to_numpy(), written[bucket])
