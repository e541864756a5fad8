"""Compacted score day files under other Parquet write options: size, compaction and read times.

One day of ``--animals`` x 144 buckets x 6 scores is written as the engine writes it (one file
per bucket, ``ScoreWriter``); then, for each variant of ``files.py``'s day-file options
(``_DAY_WRITE``, ``DAY_ROW_GROUP``), a copy of those loose files is compacted with the real
``ScoreFiles.compact_day`` and read back through ``ScoreStore.read``: bytes per score, the
compaction's time, one cow's day (median of 15 cows; also pyarrow's filtered read alone) and the day's champion scores of one use
case. The variant ``current`` is what files.py holds; bench/bench_score_store.py measures the
chosen options against InfluxDB.

Run: ``python bench/sweep_score_files.py [--animals 10000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score_store import DAY, ROLES, WEEK_START, Lineage, ParquetScores, bucket_scores  # noqa: E402

DELTA = {"animal_id": "DELTA_BINARY_PACKED", "lineage_id": "DELTA_BINARY_PACKED", "bucket_start": "DELTA_BINARY_PACKED"}


def variants(current: dict, row_group: int) -> dict[str, tuple[dict, int]]:
    def opts(level: int = 6, bss: bool = True, dictionary: object = ("shard",), delta: bool = True) -> dict:
        enc = dict(DELTA) if delta else {}
        if bss:
            enc["score"] = "BYTE_STREAM_SPLIT"
        d = list(dictionary) if isinstance(dictionary, tuple) else dictionary
        return dict(compression="zstd", compression_level=level, use_dictionary=d, column_encoding=enc or None,
                    write_statistics=True)

    return {
        "current": (current, row_group),
        "zstd 3": (opts(3), row_group),
        "zstd 9": (opts(9), row_group),
        "zstd 9, rg 65,536": (opts(9), 65_536),
        "zstd 6, rg 65,536": (opts(6), 65_536),
        "zstd 6, rg 16,384": (opts(6), 16_384),
        "zstd 6, rg 1,048,576": (opts(6), 1_048_576),
        "no byte-stream split": (opts(6, bss=False), row_group),
        "no delta (plain ints)": (opts(6, delta=False, dictionary=False), row_group),
        "no dictionary": (opts(6, dictionary=False), row_group),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=10_000)
    parser.add_argument("--day-buckets", type=int, default=144)
    args = parser.parse_args()
    from smx_assets.domain.score_store import files as files_mod

    print(f"load average at start: {os.getloadavg()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="sweep_score_files_"))
    try:
        lineage = Lineage(f"sqlite:///{root / 'herd.db'}")
        rng = np.random.default_rng(0)
        animals = np.arange(1, args.animals + 1, dtype="int64")
        template = ParquetScores(root / "template", lineage)
        day = WEEK_START
        for k in range(args.day_buckets):
            b = day + k * pd.Timedelta(minutes=10)
            template.write(bucket_scores(animals, b, lineage.record(b), rng), [b])
        scores = args.animals * len(ROLES) * args.day_buckets
        cows = [int(a) for a in rng.choice(animals, 15, replace=False)]
        print(f"{args.animals} animals x {args.day_buckets} buckets = {scores:,} scores; "
              f"loose files {template.bytes_at_rest() / scores:.2f} B/score", flush=True)
        print(f"{'variant':<24} {'B/score':>8} {'compact s':>10} {'cow day ms':>11} {'(pyarrow) ms':>13} "
              f"{'champion day s':>15}")
        saved = (files_mod._DAY_WRITE, files_mod.DAY_ROW_GROUP)
        for name, (opts, rg) in variants(*saved).items():
            folder = root / "v"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(root / "template", folder)
            files_mod._DAY_WRITE, files_mod.DAY_ROW_GROUP = opts, rg
            try:
                store = ParquetScores(folder, lineage)
                t0 = time.perf_counter()
                store.compact([day])
                compact_s = time.perf_counter() - t0
                size = store.bytes_at_rest() / scores
                store.cow(cows[0], day, day + DAY)
                cow = []
                for a in cows:
                    t0 = time.perf_counter()
                    n = len(store.cow(a, day, day + DAY))
                    cow.append(time.perf_counter() - t0)
                    assert n == len(ROLES) * args.day_buckets, n
                arrow = []
                for a in cows:
                    t0 = time.perf_counter()
                    n = store.cow_arrow(a, day, day + DAY)
                    arrow.append(time.perf_counter() - t0)
                    assert n == len(ROLES) * args.day_buckets, n
                t0 = time.perf_counter()
                n = len(store.champion_day("heat", day))
                champion_s = time.perf_counter() - t0
                assert n == args.animals * args.day_buckets, n
            finally:
                files_mod._DAY_WRITE, files_mod.DAY_ROW_GROUP = saved
            print(f"{name:<24} {size:>8.3f} {compact_s:>10.2f} {statistics.median(cow) * 1e3:>11.1f} "
                  f"{statistics.median(arrow) * 1e3:>13.1f} "
                  f"{champion_s:>15.3f}", flush=True)
        print(f"load average at end: {os.getloadavg()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
