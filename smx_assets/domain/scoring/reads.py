"""What a scoring run read of each bucket, so late data is scored exactly once.

A run takes a snapshot of each bucket it scores (the bucket's reading count and newest
``received_at``, from the same ``buckets_received_since`` the scoring sensor looks at) *before*
it reads the readings, and records it in its materialization metadata (``read_readings``,
``read_received_until``). The sensor re-scores a bucket only when the store now holds readings
that no finished run has read: a run requested before a delivery but executed after it has
already read that delivery, and is not repeated.

The snapshot is taken before the read, so a delivery landing between the two is at worst
scored once more (never missed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from smx_assets.domain.time_grid import BUCKET

# Readings are stamped on arrival, never before they were measured; an hour of slack covers a
# sensor clock running ahead of the receiver's.
_ARRIVAL_SLACK = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class BucketRead:
    """One bucket as a run read it (or as the store holds it now)."""

    n_readings: int
    received_until: pd.Timestamp | None  # newest received_at; None: no readings

    def covers(self, n_readings: int, last_received_at: pd.Timestamp | None) -> bool:
        """True when this read already saw the bucket's data ``(n_readings, last_received_at)``."""
        if last_received_at is None:
            return self.n_readings == int(n_readings)
        if self.received_until is None:
            return False
        return self.received_until >= pd.Timestamp(last_received_at) and self.n_readings == int(n_readings)


def snapshot_reads(store: Any, start: pd.Timestamp, end: pd.Timestamp) -> dict[pd.Timestamp, BucketRead]:
    """Each bucket of ``[start, end)`` as the store holds it now (buckets without readings: 0, None)."""
    frame = store.buckets_received_since(start - _ARRIVAL_SLACK, start, end)
    reads = {b: BucketRead(0, None) for b in pd.date_range(start, end, freq=BUCKET, inclusive="left")}
    for row in frame.itertuples(index=False):
        reads[pd.Timestamp(row.bucket_start)] = BucketRead(int(row.n_readings), pd.Timestamp(row.last_received_at))
    return reads


def read_metadata(read: BucketRead) -> dict[str, object]:
    """The materialization metadata entries of one bucket's read."""
    return {"read_readings": read.n_readings,
            "read_received_until": read.received_until.isoformat() if read.received_until is not None else "none"}


def parse_read_metadata(metadata: Mapping[str, Any]) -> BucketRead | None:
    """The read recorded in a materialization's metadata (values or Dagster metadata values);
    None for materializations from before reads were recorded."""
    def value(key: str) -> Any:
        v = metadata.get(key)
        return getattr(v, "value", v)

    n, until = value("read_readings"), value("read_received_until")
    if n is None or until is None:
        return None
    return BucketRead(int(n), None if until == "none" else pd.Timestamp(until))
