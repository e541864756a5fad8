"""A local read-through cache of bolus readings per 10-minute bucket, for the InfluxDB store.

Why: InfluxDB 1.6.7 spends about 5-7 µs of server CPU per point on a raw query, whatever the
output format, field list or sharding (measured with 10,000 animals: the 26 h serving window,
1.5 M points, costs 8-11 s of influxd CPU; ``GROUP BY time(10m)`` aggregates that could
fingerprint buckets are slower still, 19-56 s). A ten-minute scorer re-reads the same 26 h
every run although only the newest bucket and a few late readings changed. This cache keeps
each bucket it has read as a file and fetches from InfluxDB only the buckets that are missing
or were written to since they were fetched.

Correctness (what a full read would return):

* a cached bucket is the store's answer for ``[bucket, bucket + 10 min)``, all animals, from a
  query started at ``fetched`` (this process's clock, taken *before* the query);
* every ``write_bolus`` writes a marker per bucket it touches before and after the readings, at
  the writer's clock (``bolus_writes``, see ``influx_store._write_markers``). A reading the
  cached query did not see was written (HTTP 204) after ``fetched``, so its after-marker is
  newer than ``fetched`` - less ``CLOCK_SLACK_S`` for clock skew between writer and reader and
  the marker's flooring to the second;
* so a cached bucket is used only while no marker for it is at or after ``fetched -
  CLOCK_SLACK_S``; otherwise it is fetched again. A bucket never cached (cold start, a new
  bucket) is always fetched. Cached buckets are never re-stamped, so a marker still in flight
  during one validation is found by the next.

Limits: readings deleted from InfluxDB behind the store's back (``DELETE``, ``DROP``, a
retention policy shorter than the window) or written by a writer that does not write the
markers (an older version of this store) are not seen: clear the folder after such
operations. A writer that dies between its readings and its after-marker is covered by its
before-marker only if the read happened within ``CLOCK_SLACK_S`` of that write's start; the
retried (idempotent) write marks the buckets again.

Only whole-bucket ranges for all animals go through the cache (the serving and scoring reads);
other reads go straight to the store. Unreadable files count as missing. Files of buckets more
than ``KEEP_BEFORE`` older than the oldest bucket read are pruned.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BUCKET_S = 600
# Writer/reader clock skew (NTP keeps it in milliseconds) plus the markers' flooring to the second.
# Buckets written this close before their fetch are fetched once more by the next read.
CLOCK_SLACK_S = 10
KEEP_BEFORE_S = 2 * 86_400  # prune files of buckets older than this before the oldest read
BRIDGE_GAP = 6  # stale buckets this close are fetched in one query (a statement costs ~0.5 s at 10k series)
_NAME = re.compile(r"^b(\d+)_f(\d+)\.npz$")

Fetch = Callable[[int, int], tuple[np.ndarray, np.ndarray]]  # [s, e) -> (ids, values[time, *fields])
Markers = Callable[[int, int, int], dict[int, int]]  # (since, s, e) -> bucket -> latest marker s


class BucketReadCache:
    """Per-bucket files under ``root/<store key>/``; see the module doc for the rules."""

    def __init__(self, root: str | os.PathLike[str], store_key: str, n_values: int) -> None:
        digest = hashlib.sha256(store_key.encode()).hexdigest()[:16]
        self.dir = Path(root).expanduser() / digest
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n_values = n_values
        self.last_stats: dict[str, float] = {}

    # ------------------------------------------------------------------ files

    def _index(self) -> dict[int, tuple[int, Path]]:
        """bucket -> (fetched, newest file); older versions of a bucket are removed."""
        index: dict[int, tuple[int, Path]] = {}
        for entry in os.scandir(self.dir):
            m = _NAME.match(entry.name)
            if not m:
                continue
            bucket, fetched = int(m.group(1)), int(m.group(2))
            old = index.get(bucket)
            if old is None or fetched > old[0]:
                if old is not None:
                    _unlink(old[1])
                index[bucket] = (fetched, Path(entry.path))
            else:
                _unlink(Path(entry.path))
        return index

    def _load(self, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as z:
                ids, vals = z["ids"], z["vals"]
            if ids.dtype != np.int64 or vals.dtype != np.float64 or vals.ndim != 2 \
                    or vals.shape != (len(ids), 1 + self.n_values):
                raise ValueError(f"unexpected arrays {ids.dtype} {vals.dtype} {vals.shape}")
            return ids, vals
        except Exception as exc:  # a torn or foreign file: refetch the bucket
            log.warning("read cache: ignoring unreadable %s (%s)", path.name, exc)
            _unlink(path)
            return None

    def _store(self, bucket: int, fetched: int, ids: np.ndarray, vals: np.ndarray) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".b{bucket}_", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, ids=ids, vals=vals)
            os.replace(tmp, self.dir / f"b{bucket}_f{fetched}.npz")  # atomic: readers see all or nothing
        except BaseException:
            _unlink(Path(tmp))
            raise

    def clear(self) -> None:
        for entry in os.scandir(self.dir):
            _unlink(Path(entry.path))

    # ------------------------------------------------------------------- read

    def read(self, s: int, e: int, fetch: Fetch, markers: Markers) -> tuple[np.ndarray, np.ndarray]:
        """(ids, values) of ``[s, e)`` (whole buckets), concatenated in bucket order."""
        assert s % BUCKET_S == 0 and e % BUCKET_S == 0 and e > s
        t0 = time.perf_counter()
        now = int(time.time())  # before any query: the fetch stamp of what we read now
        buckets = list(range(s, e, BUCKET_S))
        index = self._index()
        cached = {b: index[b] for b in buckets if b in index}
        stale = set(buckets) - set(cached)
        if cached:
            oldest = min(f for f, _ in cached.values())
            written = markers(oldest - CLOCK_SLACK_S, s, e)
            for b, (fetched, _) in cached.items():
                if written.get(b, -1) >= fetched - CLOCK_SLACK_S:
                    stale.add(b)
        t_check = time.perf_counter() - t0
        parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for b in buckets:
            if b not in stale:
                loaded = self._load(cached[b][1])
                if loaded is None:
                    stale.add(b)
                else:
                    parts[b] = loaded
        t_load = time.perf_counter() - t0 - t_check
        runs = _runs(sorted(stale))
        for lo, hi in runs:
            ids, vals = fetch(lo, hi)
            bucket_of = vals[:, 0].astype("int64") // BUCKET_S * BUCKET_S if len(ids) else np.empty(0, "int64")
            order = np.argsort(bucket_of, kind="stable")
            ids, vals, bucket_of = ids[order], vals[order], bucket_of[order]
            edges = np.searchsorted(bucket_of, np.arange(lo, hi + 1, BUCKET_S))
            for k, b in enumerate(range(lo, hi, BUCKET_S)):
                part = (np.ascontiguousarray(ids[edges[k]:edges[k + 1]]),
                        np.ascontiguousarray(vals[edges[k]:edges[k + 1]]))
                self._store(b, now, *part)
                parts[b] = part
        t_fetch = time.perf_counter() - t0 - t_check - t_load
        self._prune(s)
        ids = np.concatenate([parts[b][0] for b in buckets])
        vals = np.concatenate([parts[b][1] for b in buckets])
        # buckets in time order, each animal's readings time-ordered within a bucket: a stable
        # sort by id gives (id, ts) order, which the frame builder then only verifies
        order = np.argsort(ids, kind="stable")
        ids, vals = ids[order], vals[order]
        self.last_stats = {
            "buckets": len(buckets), "fetched_buckets": sum((hi - lo) // BUCKET_S for lo, hi in runs),
            "queries": len(runs), "check_s": round(t_check, 3), "load_s": round(t_load, 3),
            "fetch_s": round(t_fetch, 3), "rows": len(ids),
        }
        log.debug("read cache %s", self.last_stats)
        return ids, vals

    def _prune(self, oldest_read: int) -> None:
        for entry in os.scandir(self.dir):
            m = _NAME.match(entry.name)
            if m and int(m.group(1)) < oldest_read - KEEP_BEFORE_S:
                _unlink(Path(entry.path))


def _runs(buckets: list[int]) -> list[tuple[int, int]]:
    """Sorted bucket starts as half-open ranges, bridging gaps of up to ``BRIDGE_GAP`` buckets."""
    runs: list[tuple[int, int]] = []
    for b in buckets:
        if runs and b - runs[-1][1] <= BRIDGE_GAP * BUCKET_S:
            runs[-1] = (runs[-1][0], b + BUCKET_S)
        else:
            runs.append((b, b + BUCKET_S))
    return runs


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
