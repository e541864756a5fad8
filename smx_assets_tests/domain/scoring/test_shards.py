"""Shard assignment (pure): stable across processes and releases, balanced, one farm's shard
independent of every other farm; the planner's per-shard requests."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import pytest

from smx_assets.domain.scoring.planning import BucketRequest, shard_requests
from smx_assets.domain.scoring.shards import MAX_SHARDS, Shard, farm_shard


def test_known_values_never_change() -> None:
    # crc32 of the decimal farm id: fixed forever (a change would move every farm's scores).
    assert [farm_shard(f, 4) for f in range(1, 13)] == [3, 1, 3, 0, 2, 0, 2, 3, 1, 1, 3, 1]
    assert farm_shard(123456, 16) == zlib.crc32(b"123456") % 16
    assert all(farm_shard(f, 1) == 0 for f in range(100))


def test_stable_across_processes_unlike_hash() -> None:
    """Two interpreters with different hash seeds agree (Python's hash() of a str would not)."""
    code = ("from smx_assets.domain.scoring.shards import farm_shard; "
            "print([farm_shard(f, 7) for f in range(1, 200)], hash('farm'))")
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout.rsplit(" ", 1))
    assert outs[0][0] == outs[1][0] == str([farm_shard(f, 7) for f in range(1, 200)])
    assert outs[0][1] != outs[1][1]  # the salted hash differs: that is why it is not used


def test_balanced_over_many_farms() -> None:
    for shards in (2, 4, 16, 64):
        counts = np.bincount([farm_shard(f, shards) for f in range(1, 20_001)], minlength=shards)
        mean = 20_000 / shards
        assert counts.min() > 0.85 * mean and counts.max() < 1.15 * mean, (shards, counts)


def test_a_farms_shard_does_not_depend_on_other_farms() -> None:
    four = Shard(2, 4)
    farms = list(range(1, 500))
    mine = four.farms(farms)
    # adding farms (new customers) and removing others never moves a farm in or out of the shard
    grown = four.farms(farms + list(range(10_000, 10_300)))
    assert [f for f in grown if f < 10_000] == mine and len(grown) > len(mine)
    assert set(four.farms(farms[::3])) == set(mine) & set(farms[::3])
    # the shards partition the farms: each farm in exactly one shard
    parts = [Shard(k, 4).farms(farms) for k in range(4)]
    assert sorted(f for p in parts for f in p) == farms


def test_animal_mask_follows_the_farm() -> None:
    animals = pd.DataFrame({"animal_id": range(1, 9), "farm_id": [1, 2, 3, 4, 5, 6, 7, 8]})
    masks = [Shard(k, 4).animal_mask(animals) for k in range(4)]
    assert np.all(np.sum(masks, axis=0) == 1)  # every animal in exactly one shard
    assert animals.loc[masks[0], "farm_id"].tolist() == [4, 6]
    assert animals.loc[masks[3], "farm_id"].tolist() == [1, 3, 8]
    assert Shard().animal_mask(animals).all() and Shard().whole


@pytest.mark.parametrize("index,count", [(0, 0), (4, 4), (-1, 4), (0, MAX_SHARDS + 1)])
def test_bad_shards_are_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError):
        Shard(index, count)


def test_every_planned_request_becomes_one_per_shard() -> None:
    b = pd.Timestamp("2026-09-10 12:00", tz="UTC")
    plan = [BucketRequest(b, "new", f"scores:{b.isoformat()}:new"),
            BucketRequest(b - pd.Timedelta(hours=2), "late-data", "scores:x:17@2026-09-10T12:04:00+00:00")]
    assert shard_requests(plan, 1) == plan  # one shard: the requests (and run keys) of today
    four = shard_requests(plan, 4)
    assert len(four) == 8 and len({r.run_key for r in four}) == 8
    assert [r.run_key for r in four[:4]] == [f"scores:{b.isoformat()}:new/shard-{k}-of-4" for k in range(4)]
    assert [(r.shard, r.shards, r.reason) for r in four[4:]] == [(k, 4, "late-data") for k in range(4)]
    assert four[5].run_key == "scores:x:17@2026-09-10T12:04:00+00:00/shard-1-of-4"  # still from the data
