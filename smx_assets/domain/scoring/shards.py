"""Which scoring shard a farm belongs to: ``zlib.crc32(str(farm_id)) % shards``.

Why farms are the unit: everything a score depends on beyond the animal itself is per farm
(the climate sensors and THI of the farm's barn and pasture, its housing), and alerts are per
animal, so a shard that holds whole farms reads only its farms' readings, needs no other
shard's data and writes rows no other shard writes. Splitting a farm over shards would gain
nothing and make every farm-level read happen twice.

Why crc32 and not ``hash()``: Python's ``hash`` of a string is salted per process
(``PYTHONHASHSEED``), so the sensor, each run worker and each pod would disagree on a farm's
shard. crc32 is the same everywhere, forever, and depends on the farm's id only: adding or
removing a farm never moves another farm (the set of farms of a shard changes only by the
farm added). Changing the number of shards does move farms, which is harmless: each run
replaces exactly its own shard's score file of a bucket (see ``score_store/files.py``), and a
bucket is always scored with one shard count.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_SHARDS = 1024


def farm_shard(farm_id: int, shards: int) -> int:
    """The shard (``0 .. shards-1``) of ``farm_id``."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be between 1 and {MAX_SHARDS}, got {shards}")
    return zlib.crc32(str(int(farm_id)).encode()) % shards


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``Shard(0, 1)``: the whole fleet, the default)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count must be between 1 and {MAX_SHARDS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be between 0 and {self.count - 1}, got {self.index}")

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def label(self) -> str:
        """``shard-3-of-4`` (run keys, feature file names)."""
        return f"shard-{self.index}-of-{self.count}"

    def farms(self, farm_ids: Iterable[int]) -> list[int]:
        """The farms of ``farm_ids`` in this shard (sorted)."""
        return sorted({int(f) for f in farm_ids if farm_shard(int(f), self.count) == self.index})

    def animal_mask(self, animals: pd.DataFrame) -> np.ndarray:
        """Which rows of an animals frame (with ``farm_id``) belong to this shard."""
        if self.whole:
            return np.ones(len(animals), dtype=bool)
        farm = animals["farm_id"].to_numpy(dtype="int64")
        uniq, inverse = np.unique(farm, return_inverse=True)
        mine = np.array([farm_shard(int(f), self.count) == self.index for f in uniq], dtype=bool)
        return mine[inverse] if len(uniq) else np.zeros(0, dtype=bool)


WHOLE_FLEET = Shard(0, 1)

__all__ = ["MAX_SHARDS", "WHOLE_FLEET", "Shard", "farm_shard"]
