"""A local read-through cache of bolus readings per 10-minute bucket, for the InfluxDB store.

Why: InfluxDB 1.6.7 spends about 5-7 µs of server CPU per point on a raw query, whatever the
output format, field list or sharding (measured with 10,000 animals: the 26 h serving window,
1.5 M points, costs 8-11 s of influxd CPU; ``GROUP BY time(10m)`` aggregates that could
fingerprint buckets are slower still, 19-56 s). A ten-minute scorer re-reads the same 26 h
every run although only the newest bucket and a few late readings changed. This cache keeps
each bucket it has read as a file and fetches from InfluxDB only the buckets that are missing
or were written to since they were fetched.

Correctness (what a full read would return):

* a cached bucket holds the store's answer for ``[bucket, bucket + 10 min)``, all animals; its
  animals are split in ``N_SHARDS`` shards (``animal_id % 100``) and each shard's rows come from
  a query started at that shard's stamp ``fetched`` (this process's clock, taken *before* the
  query);
* every ``write_bolus`` writes a marker per (bucket, shard) it touches before and after the
  readings, at the writer's clock (``bolus_writes``, see ``influx_store._write_markers``). A
  reading the cached query did not see was written (HTTP 204) after ``fetched``, so its
  after-marker is newer than ``fetched`` - less ``CLOCK_SLACK_S`` for clock skew between writer
  and reader and the marker's flooring to the second;
* so a cached (bucket, shard) is used only while no marker for it is at or after ``fetched -
  CLOCK_SLACK_S``; otherwise that shard of that bucket is fetched again (a regex on the id
  tag). A bucket never cached (cold start, a new bucket) is fetched whole. Validated shards are
  never re-stamped, so a marker still in flight during one validation is found by the next.

Why shards: the simulator (and a real barn) delivers a cow's readings hours late in 2-hour
blocks; with whole-bucket invalidation a few such cows per run make every bucket of the last
hours stale for all 10,000 animals.

Limits: readings deleted from InfluxDB behind the store's back (``DELETE``, ``DROP``, a
retention policy shorter than the window) or written by a writer that does not write the
markers (an older version of this store) are not seen: clear the folder after such
operations. A writer that dies between its readings and its after-marker is covered by its
before-marker only if the read happened within ``CLOCK_SLACK_S`` of that write's start; the
retried (idempotent) write marks the buckets again.

Only whole-bucket ranges go through the cache (the serving and scoring reads), for all animals or
for a large set of them (a chunk of a scoring run: validated and refetched for all animals as
above, then filtered); other reads go straight to the store. Unreadable files count as missing. Files of buckets more
than ``KEEP_BEFORE`` older than the oldest bucket read are pruned.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BUCKET_S = 600
N_SHARDS = 100  # animals are tracked by animal_id % 100 (the markers' shard)
# Writer/reader clock skew (NTP keeps it in milliseconds) plus the markers' flooring to the second.
# Shards written this close before their fetch are fetched once more by the next read.
CLOCK_SLACK_S = 10
KEEP_BEFORE_S = 2 * 86_400  # prune files of buckets older than this before the oldest read
BRIDGE_GAP = 3  # stale buckets of a shard this close are fetched in one range
_NAME = re.compile(r"^b(\d+)\.npz$")

Range = tuple[int, int, "frozenset[int] | None"]  # [lo, hi) for these shards (None: all animals)
Fetch = Callable[[list[Range]], tuple[np.ndarray, np.ndarray]]  # -> (ids, values[time, *fields])
Markers = Callable[[int, int, int], dict[tuple[int, int], int]]  # (since, s, e) -> (bucket, shard) -> s
ALL = frozenset(range(N_SHARDS))


class _Bucket:
    """One bucket's rows (all animals) and the fetch stamp of each shard (-1: never fetched)."""

    def __init__(self, ids: np.ndarray, vals: np.ndarray, stamps: np.ndarray) -> None:
        self.ids, self.vals, self.stamps = ids, vals, stamps

    def replace(self, shards: frozenset[int], ids: np.ndarray, vals: np.ndarray, stamp: int) -> None:
        if len(shards) == N_SHARDS:
            self.ids, self.vals = ids, vals  # already (id, ts) ordered
        else:
            keep = ~np.isin(self.ids % N_SHARDS, np.fromiter(shards, dtype="int64"))
            self.ids = np.concatenate([self.ids[keep], ids])
            self.vals = np.concatenate([self.vals[keep], vals])
            order = np.lexsort((self.vals[:, 0], self.ids))  # (id, ts) within the bucket
            self.ids, self.vals = self.ids[order], self.vals[order]
        self.stamps[np.fromiter(shards, dtype="int64")] = stamp


@dataclass
class _Refreshed:
    """What validating and fetching a range leaves for assembling the answer."""

    buckets: list[int]
    data: dict[int, _Bucket]  # buckets a fetch rewrote, held whole
    stale: dict[int, set[int]]
    ranges: list[Range]
    now: int  # the fetch stamp
    load_s: float
    check_s: float


class BucketReadCache:
    """Per-bucket files under ``root/<store key>/``; see the module doc for the rules."""

    def __init__(self, root: str | os.PathLike[str], store_key: str, n_values: int) -> None:
        digest = hashlib.sha256(store_key.encode()).hexdigest()[:16]
        self.dir = Path(root).expanduser() / digest
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n_values = n_values
        self.last_stats: dict[str, float] = {}

    # ------------------------------------------------------------------ files

    def _path(self, bucket: int) -> Path:
        return self.dir / f"b{bucket}.npz"

    def _load(self, bucket: int) -> _Bucket | None:
        path = self._path(bucket)
        try:
            with np.load(path, allow_pickle=False) as z:
                ids, vals, stamps = z["ids"], z["vals"], z["stamps"]
        except FileNotFoundError:
            return None
        except Exception as exc:  # a torn or foreign file: refetch the bucket
            log.warning("read cache: ignoring unreadable %s (%s)", path.name, exc)
            _unlink(path)
            return None
        if ids.dtype != np.int64 or vals.dtype != np.float64 or stamps.dtype != np.int64 \
                or vals.shape != (len(ids), 1 + self.n_values) or stamps.shape != (N_SHARDS,):
            log.warning("read cache: ignoring %s with unexpected arrays", path.name)
            _unlink(path)
            return None
        return _Bucket(ids, vals, stamps)

    def _store(self, bucket: int, data: _Bucket) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".b{bucket}_", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, ids=data.ids, vals=data.vals, stamps=data.stamps)
            os.replace(tmp, self._path(bucket))  # atomic: readers see a whole file, old or new
        except BaseException:
            _unlink(Path(tmp))
            raise

    def clear(self) -> None:
        for entry in os.scandir(self.dir):
            _unlink(Path(entry.path))

    # ------------------------------------------------------------------- read

    def _load_stamps(self, bucket: int) -> np.ndarray | None:
        """Only the shard stamps of a bucket file (an ``.npz`` member is read on access)."""
        try:
            with np.load(self._path(bucket), allow_pickle=False) as z:
                stamps = z["stamps"]
        except FileNotFoundError:
            return None
        except Exception:
            return None  # _load then drops the file and the bucket is fetched whole
        if stamps.dtype != np.int64 or stamps.shape != (N_SHARDS,):
            return None
        return stamps

    def refresh(self, s: int, e: int, fetch: Fetch, markers: Markers) -> None:
        """Validate and fetch ``[s, e)`` as :meth:`read` does, without assembling an answer: a
        run calls it ahead (``InfluxSensorStore.prefetch``) so the new bucket arrives while it
        loads its models and herd records."""
        assert s % BUCKET_S == 0 and e % BUCKET_S == 0 and e > s
        self._refresh(s, e, fetch, markers)

    def _refresh(self, s: int, e: int, fetch: Fetch, markers: Markers) -> _Refreshed:
        t0 = time.perf_counter()
        # One process at a time checks and fetches: the shard runs of a bucket start together and
        # all miss its new bucket; without this each one asks InfluxDB for the same whole bucket
        # at once (4 shards x 200,000 animals timed out on 2 cores), with it the first fetches
        # and the others find the file. The lock is held for the check and fetch, not the assembly.
        with _exclusive(self.dir / ".fetch.lock"):
            now = int(time.time())  # before any query: the fetch stamp of what we read now
            buckets = list(range(s, e, BUCKET_S))
            stamps = {b: self._load_stamps(b) for b in buckets}
            t_load = time.perf_counter() - t0
            stale: dict[int, set[int]] = {b: set(ALL) for b, st in stamps.items() if st is None}
            present = {b: st for b, st in stamps.items() if st is not None}
            if present:
                oldest = min(int(st.min()) for st in present.values())
                for (b, k), t in markers(oldest - CLOCK_SLACK_S, s, e).items():
                    st = present.get(b)
                    if st is not None and t >= st[k] - CLOCK_SLACK_S:
                        stale.setdefault(b, set()).add(k)
                for b, st in present.items():
                    never = np.flatnonzero(st < 0)
                    if len(never):
                        stale.setdefault(b, set()).update(int(k) for k in never)
            t_check = time.perf_counter() - t0 - t_load
            data: dict[int, _Bucket] = {}  # buckets held whole: only those a fetch rewrites
            ranges = _ranges(stale)
            if ranges:
                ids, vals = fetch(ranges)
                # ranges may overlap (a bridged all-animal run over a bucket with stale shards):
                # keep one row per (id, time), in (bucket, id, time) order
                bucket_of = vals[:, 0].astype("int64") // BUCKET_S * BUCKET_S
                order = np.lexsort((vals[:, 0], ids, bucket_of))
                ids, vals, bucket_of = ids[order], vals[order], bucket_of[order]
                if len(ids) > 1:
                    first = np.r_[True, (np.diff(ids) != 0) | (np.diff(vals[:, 0]) != 0)]
                    ids, vals, bucket_of = ids[first], vals[first], bucket_of[first]
                for lo, hi, shards in ranges:
                    i0, i1 = np.searchsorted(bucket_of, [lo, hi])
                    r_ids, r_vals, r_bucket = ids[i0:i1], vals[i0:i1], bucket_of[i0:i1]
                    if shards is not None:
                        sel = np.isin(r_ids % N_SHARDS, np.fromiter(shards, dtype="int64"))
                        r_ids, r_vals, r_bucket = r_ids[sel], r_vals[sel], r_bucket[sel]
                    edges = np.searchsorted(r_bucket, np.arange(lo, hi + 1, BUCKET_S))
                    for j, b in enumerate(range(lo, hi, BUCKET_S)):
                        d = data.get(b)
                        if d is None and b in present:
                            d = self._load(b)
                        if d is None:
                            d = _Bucket(np.empty(0, "int64"), np.empty((0, 1 + self.n_values)),
                                        np.full(N_SHARDS, -1, dtype="int64"))
                        data[b] = d
                        d.replace(shards if shards is not None else ALL, r_ids[edges[j]:edges[j + 1]],
                                  r_vals[edges[j]:edges[j + 1]], now)
                for b in {b for lo, hi, _ in ranges for b in range(lo, hi, BUCKET_S)}:
                    self._store(b, data[b])
        return _Refreshed(buckets, data, stale, ranges, now, t_load, t_check)

    def read(self, s: int, e: int, fetch: Fetch, markers: Markers,
             animal_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, values) of ``[s, e)`` (whole buckets), sorted by (id, time); only the rows of
        ``animal_ids`` (sorted int64) when given.

        Validation and refetching are for all animals (what the markers track); the answer is
        then assembled one bucket file at a time, keeping only the asked-for animals, so a
        scoring run that reads its herd chunk by chunk holds one chunk's window (plus one
        bucket file), never the whole herd's. Buckets that need no refetch are never held whole.
        """
        assert s % BUCKET_S == 0 and e % BUCKET_S == 0 and e > s
        t0 = time.perf_counter()
        r = self._refresh(s, e, fetch, markers)
        buckets, data, stale, ranges, now = r.buckets, r.data, r.stale, r.ranges, r.now
        t_load, t_check = r.load_s, r.check_s
        t_fetch = time.perf_counter() - t0 - t_load - t_check
        self._prune(s)
        want = None if animal_ids is None else _Want(np.asarray(animal_ids, dtype="int64"))
        id_parts, val_parts = [], []
        for b in buckets:
            d = data.get(b)
            if d is None and want is not None:  # a chunk: map the file, copy the chunk's rows only
                got = _read_mapped(self._path(b), want, self.n_values)
                if got is not None:
                    id_parts.append(got[0])
                    val_parts.append(got[1])
                    continue
            if d is None:
                d = self._load(b)
            if d is None:  # the file vanished or broke since its stamps were read: fetch it whole
                f_ids, f_vals = fetch([(b, b + BUCKET_S, None)])
                order = np.lexsort((f_vals[:, 0], f_ids))
                d = _Bucket(f_ids[order], f_vals[order], np.full(N_SHARDS, now, dtype="int64"))
                self._store(b, d)
            b_ids, b_vals = d.ids, d.vals
            if want is not None:
                b_ids, b_vals = _select(b_ids, b_vals, want)
            id_parts.append(b_ids)
            val_parts.append(b_vals)
            data.pop(b, None)
        ids = np.concatenate(id_parts) if id_parts else np.empty(0, "int64")
        vals = np.concatenate(val_parts) if val_parts else np.empty((0, 1 + self.n_values))
        # buckets in time order, each (id, ts)-sorted: a stable sort by id gives (id, ts) order,
        # which the frame builder then only verifies
        order = np.argsort(ids, kind="stable")
        self.last_stats = {
            "buckets": len(buckets), "stale_buckets": len(stale),
            "stale_shard_buckets": sum(len(v) for v in stale.values()), "ranges": len(ranges),
            "load_s": round(t_load, 3), "check_s": round(t_check, 3), "fetch_s": round(t_fetch, 3),
            "assemble_s": round(time.perf_counter() - t0 - t_load - t_check - t_fetch, 3),
            "rows": len(ids),
        }
        log.debug("read cache %s", self.last_stats)
        return ids[order], vals[order]

    def _prune(self, oldest_read: int) -> None:
        for entry in os.scandir(self.dir):
            m = _NAME.match(entry.name)
            if m and int(m.group(1)) < oldest_read - KEEP_BEFORE_S:
                _unlink(Path(entry.path))


_LAYOUTS: dict[tuple[str, int, int, int], dict[str, tuple[int, tuple[int, ...], np.dtype]] | None] = {}


def _layout(path: Path, names: tuple[str, ...]) -> dict[str, tuple[int, tuple[int, ...], np.dtype]] | None:
    """(data offset, shape, dtype) of members of an uncompressed ``.npz`` (what ``np.savez``
    writes), cached per file version (inode, mtime, size): None when the file cannot be mapped."""
    st = os.stat(path)
    key = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
    if key in _LAYOUTS:
        return _LAYOUTS[key]
    out: dict[str, tuple[int, tuple[int, ...], np.dtype]] | None = {}
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
            for name in names:
                info = zf.getinfo(f"{name}.npy")
                fh.seek(info.header_offset)
                local = fh.read(30)
                if info.compress_type != zipfile.ZIP_STORED or local[:4] != b"PK\x03\x04":
                    out = None
                    break
                fh.seek(info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                        + int.from_bytes(local[28:30], "little"))
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    fortran = True
                if fortran:
                    out = None
                    break
                out[name] = (fh.tell(), tuple(shape), np.dtype(dtype))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        out = None
    if len(_LAYOUTS) > 4 * 1024:
        _LAYOUTS.clear()
    _LAYOUTS[key] = out
    return out


def _read_mapped(path: Path, want: _Want, n_values: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of the animals ``want`` from a bucket file, through a memory map of it.

    A chunked read needs a slice of each bucket file, not the file: mapping it copies just the
    chunk's rows (the page cache serves them) instead of reading and CRC-checking every whole
    bucket once per chunk. The map is closed before returning, so the process never holds more
    than one bucket file's pages. None when the file cannot be mapped (the caller loads it)."""
    try:
        layout = _layout(path, ("ids", "vals"))
        if layout is None:
            return None
        (o_ids, s_ids, d_ids), (o_vals, s_vals, d_vals) = layout["ids"], layout["vals"]
        if d_ids != np.int64 or d_vals != np.float64 or len(s_ids) != 1 or s_vals != (s_ids[0], 1 + n_values):
            return None
        n = s_ids[0]
        if n == 0:
            return np.empty(0, "int64"), np.empty((0, 1 + n_values))
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            ids = np.frombuffer(mm, dtype=np.int64, count=n, offset=o_ids)
            vals = np.frombuffer(mm, dtype=np.float64, count=n * (1 + n_values), offset=o_vals).reshape(n, 1 + n_values)
            sel_ids, sel_vals = _select(ids, vals, want)
            out = np.array(sel_ids), np.array(sel_vals)
            del ids, vals, sel_ids, sel_vals  # no view may outlive the map
        return out
    except (OSError, ValueError):
        return None


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory lock across processes (and threads: each call opens its own file)."""
    with open(lock_path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class _Want:
    """A sorted id set and a fast membership test (a bitmap over its id span when dense)."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self.lo = int(ids[0]) if len(ids) else 0
        self.hi = int(ids[-1]) if len(ids) else -1
        span = self.hi - self.lo + 1
        self.table: np.ndarray | None = None
        if len(ids) and span <= 64 * len(ids):
            self.table = np.zeros(span, dtype=bool)
            self.table[ids - self.lo] = True

    def member(self, sub: np.ndarray) -> np.ndarray:
        """``sub`` (ids within ``[lo, hi]``) in the set?"""
        if self.table is not None:
            return self.table[sub - self.lo]
        pos = np.minimum(np.searchsorted(self.ids, sub), len(self.ids) - 1)
        return self.ids[pos] == sub


def _select(ids: np.ndarray, vals: np.ndarray, want: np.ndarray | _Want) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the (sorted) ids in ``want`` (sorted): the id range by bisection first, then
    membership (a chunk is a contiguous run of the herd's ids, so most rows in range belong)."""
    w = want if isinstance(want, _Want) else _Want(np.asarray(want, dtype="int64"))
    if len(w.ids) == 0 or len(ids) == 0:
        return ids[:0], vals[:0]
    i0 = int(np.searchsorted(ids, w.lo, side="left"))
    i1 = int(np.searchsorted(ids, w.hi, side="right"))
    sub_ids, sub_vals = ids[i0:i1], vals[i0:i1]
    ok = w.member(sub_ids)
    return (sub_ids, sub_vals) if ok.all() else (sub_ids[ok], sub_vals[ok])


def _ranges(stale: dict[int, set[int]]) -> list[Range]:
    """Fetch ranges for stale (bucket, shard) pairs.

    Buckets with every shard stale (new or never cached) become all-animal ranges; the other
    pairs become per-shard runs of buckets (gaps of up to ``BRIDGE_GAP`` bridged), and runs with
    the same bounds share one range (one statement with a regex on the id tag).
    """
    full = sorted(b for b, ks in stale.items() if len(ks) == N_SHARDS)
    out: list[Range] = [(lo, hi, None) for lo, hi in _runs(full)]
    by_shard: dict[int, list[int]] = {}
    for b, ks in stale.items():
        if len(ks) < N_SHARDS:
            for k in ks:
                by_shard.setdefault(k, []).append(b)
    by_run: dict[tuple[int, int], set[int]] = {}
    for k, bs in by_shard.items():
        for lo, hi in _runs(sorted(bs)):
            by_run.setdefault((lo, hi), set()).add(k)
    out += [(lo, hi, frozenset(ks)) for (lo, hi), ks in sorted(by_run.items())]
    return out


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
