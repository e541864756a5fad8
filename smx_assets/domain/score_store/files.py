"""Scores as Parquet files: one file per bucket and shard as runs write them, one per day at rest.

Layout under the feature store's base path (a folder, or ``s3://...`` in production)::

    <base>/scores/2026-12-07/1210.parquet                 a bucket as a run wrote it
    <base>/scores/2026-12-07/1210.shard-3-of-4.parquet    one shard's part of a bucket
    <base>/scores/2026-12-07.parquet                      the day, compacted (sorted by animal)

A score row is ``(lineage_id, animal_id, score)``: everything a row of the old ``predictions``
table repeated (use case, model, version, run ids, code version, partition) is one row of the
herd DB's ``scoring_lineage``, referred to by ``lineage_id`` (see ``lineage.py``). Scores stay
float64, as the model returned them: an alert must replay bit for bit.

Why these rules:

* **A rerun replaces, never duplicates.** The unit of replacement is (bucket, shard): a run
  writes the bucket's whole file under a temporary name and renames it into place, so a reader
  sees the old file or the new one, never a mix, also when the run is killed mid-write.
* **Loose files supersede the compacted day.** For a bucket that has loose files, the day file's
  rows of the same shard, and of every animal the loose files hold, are not read (a re-score of
  a compacted day, or a shard layout change); :func:`merge_day` is the one home of that rule,
  used by readers and by compaction alike.
* **Compaction** (:meth:`ScoreFiles.compact_day`) folds a day's loose files into its day file,
  sorted by (animal, lineage, bucket) with delta-encoded integers and byte-stream-split zstd
  scores: a few bytes a score (``infra/README.md`` has the measurement), and a cow's history is
  a filtered read of one row group per day. A loose file changed while compaction ran is kept
  (it still supersedes), so a compaction racing a re-score loses nothing.
* **Retention** removes whole days (:meth:`ScoreFiles.drop_days_before`).
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smx_assets.domain.redaction import normalise_url
from smx_assets.domain.time_grid import BUCKET, day_key

SCORES = "scores"
WHOLE = ""  # the shard label of an unsharded run
STALE_TMP_S = 3600.0  # a temporary score file this old was left by a killed run

BUCKET_SCHEMA = pa.schema([("lineage_id", pa.int32()), ("animal_id", pa.int32()), ("score", pa.float64())])
DAY_SCHEMA = pa.schema([
    ("animal_id", pa.int32()), ("lineage_id", pa.int32()),
    ("bucket_start", pa.timestamp("us", tz="UTC")), ("score", pa.float64()), ("shard", pa.string()),
])
COLUMNS = ["lineage_id", "animal_id", "bucket_start", "score", "shard"]
# A day file's columns for readers that take the shard from the lineage (read_days(shard=False)).
DAY_SCHEMA_NO_SHARD = pa.schema([f for f in DAY_SCHEMA if f.name != "shard"])

# Compacted day files: settings measured in bench/bench_score_store.py (infra/README.md). Row
# groups of 32,768 rows: a cow's day (its rows sit in one group, the file sorted by animal) is
# one group to decode, 3 ms instead of 16 ms with 262,144 rows (GET /v1/scores reads 7), for
# +0.5 % bytes; the longer footer (264 groups at 10,000 animals) is parsed once (_Footers).
DAY_ROW_GROUP = 32_768
# Bucket (loose) files, written sorted by animal: today's buckets are read by every one-cow
# request (GET /v1/scores, smx explain) until the day is compacted; 8,192 rows (1,365 animals
# of 6 models) is one group to decode instead of the whole bucket of the herd.
BUCKET_ROW_GROUP = 8_192
# BYTE_STREAM_SPLIT of the score sits in column_encoding beside the delta encodings: pyarrow
# adds use_byte_stream_split's columns into the (module-level) column_encoding dict and then
# refuses the pair, so a second compaction in one process failed.
_DAY_WRITE = dict(compression="zstd", compression_level=6, use_dictionary=["shard"],
                  column_encoding={"animal_id": "DELTA_BINARY_PACKED", "lineage_id": "DELTA_BINARY_PACKED",
                                   "bucket_start": "DELTA_BINARY_PACKED", "score": "BYTE_STREAM_SPLIT"},
                  write_statistics=True)
_BUCKET_WRITE = dict(compression="zstd", compression_level=3, use_byte_stream_split=["score"],
                     use_dictionary=False, write_statistics=True)

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.parquet$")
_BUCKET_FILE = re.compile(r"^(\d{2})(\d{2})(?:\.(shard-\d+-of-(\d+)))?\.parquet$")


@dataclass(frozen=True)
class LooseFile:
    """A bucket file as a run wrote it."""

    path: str
    bucket: pd.Timestamp
    shard: str  # "" or shard-k-of-N
    modified: float  # seconds since the epoch (newest wins between shard layouts)

    @property
    def layout(self) -> int:
        return int(self.shard.rsplit("-", 1)[1]) if self.shard else 1


class ScoreFiles:
    """Read and write the score files under ``base_path`` (a local folder or an fsspec URL)."""

    def __init__(self, base_path: str, **storage_options: object) -> None:
        self.base_path = normalise_url(base_path.rstrip("/"))
        self.fs, self.root = fsspec.core.url_to_fs(self.base_path, **storage_options)
        self.folder = posixpath.join(self.root, SCORES)
        self._footers = _Footers()

    # -- paths ------------------------------------------------------------------------------

    def day_path(self, day: pd.Timestamp | str) -> str:
        return posixpath.join(self.folder, f"{day_key(day)}.parquet")

    def bucket_path(self, bucket: pd.Timestamp, shard: str = WHOLE) -> str:
        b = pd.Timestamp(bucket)
        name = b.strftime("%H%M") + (f".{shard}" if shard else "") + ".parquet"
        return posixpath.join(self.folder, day_key(b), name)

    # -- writing ----------------------------------------------------------------------------

    def write_bucket(self, bucket: pd.Timestamp, table: pa.Table, shard: str = WHOLE) -> int:
        """Replace the (bucket, shard) file by ``table`` (``BUCKET_SCHEMA``) atomically: written
        under a temporary name, then renamed into place. An empty table still replaces (a
        bucket that lost its readings keeps no old scores). Returns the bytes written."""
        target = self.bucket_path(bucket, shard)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        table = table.cast(BUCKET_SCHEMA).replace_schema_metadata(
            {"smx_bucket": pd.Timestamp(bucket).isoformat(), "smx_shard": shard})
        animals = table.column("animal_id").to_numpy()
        if (animals[1:] < animals[:-1]).any():  # sorted by animal: a one-cow read decodes one row group
            table = table.take(pc.sort_indices(table, sort_keys=[("animal_id", "ascending"),
                                                                 ("lineage_id", "ascending")]))
        try:
            with self.fs.open(tmp, "wb") as fh:
                pq.write_table(table, fh, row_group_size=BUCKET_ROW_GROUP, **_BUCKET_WRITE)
            self.fs.mv(tmp, target)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise
        return int(self.fs.size(target))

    # -- listing ----------------------------------------------------------------------------

    def loose_files(self, day: pd.Timestamp | str) -> list[LooseFile]:
        folder = posixpath.join(self.folder, day_key(day))
        if not self.fs.exists(folder):
            return []
        out = []
        base = pd.Timestamp(day_key(day), tz="UTC")
        for info in self.fs.ls(folder, detail=True):
            name = posixpath.basename(info["name"])
            m = _BUCKET_FILE.match(name)
            if not m:
                continue  # temporary files of a run in flight, or foreign files
            bucket = base + pd.Timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))
            out.append(LooseFile(info["name"], bucket, m.group(3) or WHOLE, _mtime(info)))
        return sorted(out, key=lambda f: (f.bucket, f.shard))

    def days(self) -> list[pd.Timestamp]:
        """Every UTC day that has a day file or a folder of bucket files."""
        if not self.fs.exists(self.folder):
            return []
        keys = set()
        for info in self.fs.ls(self.folder, detail=True):
            name = posixpath.basename(info["name"].rstrip("/"))
            m = _DAY_FILE.match(name)
            if m:
                keys.add(m.group(1))
            elif info.get("type") == "directory" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", name):
                keys.add(name)
        return [pd.Timestamp(k, tz="UTC") for k in sorted(keys)]

    # -- reading ----------------------------------------------------------------------------

    def read_day(self, day: pd.Timestamp | str, lineage_ids: Iterable[int] | None = None,
                 animal_ids: Sequence[int] | None = None) -> pd.DataFrame:
        """Every stored score of one UTC day (``COLUMNS``), optionally only of ``lineage_ids``
        and ``animal_ids``, with loose files superseding the day file (:func:`merge_day`)."""
        compacted = self._read_day_file(day, lineage_ids, animal_ids)
        loose = [(f, self._read_loose(f, lineage_ids, animal_ids)) for f in self.loose_files(day)]
        return merge_day(compacted, loose)

    def read_days(self, days: Sequence[pd.Timestamp | str], lineage_ids: Iterable[int] | None = None,
                  animal_ids: Sequence[int] | None = None, shard: bool = True) -> pd.DataFrame:
        """:meth:`read_day` of each of ``days`` (ascending), as one frame in the same order.

        Days without loose files (every day but today, normally) skip :func:`merge_day`: their
        day files' rows are decoded into one table, framed and sorted once — a cow's week is
        one small frame instead of seven, which is most of a one-cow read's time.
        ``shard=False``: without the ``shard`` column (readers that take the shard from the
        lineage): such days do not decode it, half of a one-cow day's decoding (0.6 of 1.1 ms).
        """
        lineage_ids = None if lineage_ids is None else sorted({int(i) for i in lineage_ids})
        columns = COLUMNS if shard else [c for c in COLUMNS if c != "shard"]
        schema = DAY_SCHEMA if shard else DAY_SCHEMA_NO_SHARD
        parts: list[pd.DataFrame] = []
        tables: list[pa.Table] = []
        for day in days:
            loose = self.loose_files(day)
            if loose:
                if tables:
                    parts.append(_sorted(_frame(pa.concat_tables(tables)))[columns])
                    tables = []
                parts.append(self.read_day(day, lineage_ids, animal_ids)[columns])
                continue
            table = self._read_day_table(day, lineage_ids, animal_ids, schema)
            if table is not None and table.num_rows:
                tables.append(table)
        if tables:
            parts.append(_sorted(_frame(pa.concat_tables(tables)))[columns])
        parts = [p for p in parts if len(p)]
        if not parts:
            return _empty()[columns]
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def _read_day_file(self, day: pd.Timestamp | str, lineage_ids: Iterable[int] | None = None,
                       animal_ids: Sequence[int] | None = None) -> pd.DataFrame | None:
        table = self._read_day_table(day, lineage_ids, animal_ids)
        return None if table is None else _frame(table)

    def _read_day_table(self, day: pd.Timestamp | str, lineage_ids: Iterable[int] | None = None,
                        animal_ids: Sequence[int] | None = None, schema: pa.Schema = DAY_SCHEMA) -> pa.Table | None:
        """The day file's rows (of ``lineage_ids`` and ``animal_ids`` when given), None without one.

        The file is sorted by animal, so a few animals' rows sit in the row groups whose
        ``animal_id`` statistics span them: only those are decoded (one or two of a day's),
        with the footer taken from :class:`_Footers` instead of parsed again."""
        path = self.day_path(day)
        try:
            table = self._row_groups(path, animal_ids, schema)
        except FileNotFoundError:
            return None
        if animal_ids is not None and len(set(animal_ids)) == 1 and table.num_rows:
            # one cow: a slice of the sorted animal column (checked sorted: that is the layout
            # compaction writes, but a slice must never be taken on the word of a comment)
            animals = table.column("animal_id").to_numpy()
            if (animals[1:] >= animals[:-1]).all():
                a = int(next(iter(animal_ids)))
                i0, i1 = np.searchsorted(animals, a, side="left"), np.searchsorted(animals, a, side="right")
                table, animal_ids = table.slice(int(i0), int(i1 - i0)), None
        return _only(table, lineage_ids, animal_ids)

    def _row_groups(self, path: str, animal_ids: Sequence[int] | None, schema: pa.Schema) -> pa.Table:
        """The row groups of a score file whose ``animal_id`` statistics span ``animal_ids``
        (all without ids), with the footer from :class:`_Footers` (``FileNotFoundError``
        without the file)."""
        with self.fs.open(path, "rb") as fh:
            footer = self._footers.of(path, fh)
            groups = footer.row_groups_of(animal_ids)
            if not groups:
                return schema.empty_table()
            return pq.ParquetFile(fh, metadata=footer.metadata).read_row_groups(groups, columns=schema.names)

    def _read_loose(self, f: LooseFile, lineage_ids: Iterable[int] | None = None,
                    animal_ids: Sequence[int] | None = None) -> pd.DataFrame:
        """One bucket file's rows (of ``lineage_ids`` and ``animal_ids``): like a day file, only
        the row groups whose ``animal_id`` statistics span the animals are decoded (files
        written sorted by animal, :data:`BUCKET_ROW_GROUP`), the footer from :class:`_Footers`."""
        table = _only(self._row_groups(f.path, animal_ids, BUCKET_SCHEMA), lineage_ids, animal_ids)
        n = table.num_rows
        bucket = np.datetime64(pd.Timestamp(f.bucket).tz_convert("UTC").tz_localize(None), "us")
        # built in one go from arrays (a frame's column assignments cost more than the read)
        return pd.DataFrame({
            "lineage_id": table.column("lineage_id").to_numpy().astype("int64"),
            "animal_id": table.column("animal_id").to_numpy().astype("int64"),
            "bucket_start": pd.DatetimeIndex(np.full(n, bucket)).tz_localize("UTC"),
            "score": table.column("score").to_numpy().astype("float64"),
            "shard": np.full(n, f.shard, dtype=object)}, columns=COLUMNS)

    # -- compaction and retention -----------------------------------------------------------

    def compact_day(self, day: pd.Timestamp | str) -> CompactionReport:
        """Fold the day's loose files into its day file (sorted by animal, lineage, bucket).

        The new day file is written under a temporary name and renamed into place before any
        loose file is removed; a loose file whose modification time changed since it was read
        (a re-score in the meantime) is left in place and keeps superseding."""
        loose = self.loose_files(day)
        if not loose:
            return CompactionReport(day_key(day), 0, 0, 0)
        compacted = self._read_day_file(day)
        frames = [(f, self._read_loose(f)) for f in loose]
        merged = merge_day(compacted, frames)
        merged = merged.sort_values(["animal_id", "lineage_id", "bucket_start"], kind="stable", ignore_index=True)
        table = pa.Table.from_pandas(merged[[f.name for f in DAY_SCHEMA]], schema=DAY_SCHEMA, preserve_index=False)
        target = self.day_path(day)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        with self.fs.open(tmp, "wb") as fh:
            pq.write_table(table, fh, row_group_size=DAY_ROW_GROUP, **_DAY_WRITE)
        self.fs.mv(tmp, target)
        removed = 0
        for f in loose:
            try:
                if _mtime(self.fs.info(f.path)) == f.modified:
                    self.fs.rm(f.path)
                    removed += 1
            except FileNotFoundError:
                pass
        self._remove_stale_temporaries(day, older_than=time.time() - STALE_TMP_S)
        return CompactionReport(day_key(day), len(merged), removed, int(self.fs.size(target)))

    def _remove_stale_temporaries(self, day: pd.Timestamp | str, older_than: float) -> None:
        """Temporary files a killed run left (never read: they are not score files) once they
        are ``STALE_TMP_S`` old; a run writing right now keeps its own."""
        folder = posixpath.join(self.folder, day_key(day))
        if not self.fs.exists(folder):
            return
        for info in self.fs.ls(folder, detail=True):
            if ".tmp-" in posixpath.basename(info["name"]) and _mtime(info) < older_than:
                self.fs.rm(info["name"])

    def drop_days_before(self, cutoff: pd.Timestamp) -> list[str]:
        """Remove the day files and bucket folders of every UTC day before ``cutoff``'s day."""
        cut = pd.Timestamp(cutoff).tz_convert("UTC").normalize() if pd.Timestamp(cutoff).tzinfo else \
            pd.Timestamp(cutoff).tz_localize("UTC").normalize()
        dropped = []
        for day in self.days():
            if day < cut:
                self.drop_day(day)
                dropped.append(day_key(day))
        return dropped

    def drop_day(self, day: pd.Timestamp | str) -> None:
        """Remove one day: its day file and its folder of loose files."""
        if self.fs.exists(self.day_path(day)):
            self.fs.rm(self.day_path(day))
        folder = posixpath.join(self.folder, day_key(day))
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def bytes_at_rest(self, days: Iterable[pd.Timestamp] | None = None) -> int:
        """Bytes of the score files (day files and loose files) of ``days`` (default: all)."""
        total = 0
        for day in (self.days() if days is None else days):
            if self.fs.exists(self.day_path(day)):
                total += int(self.fs.size(self.day_path(day)))
            total += sum(int(self.fs.size(f.path)) for f in self.loose_files(day))
        return total


@dataclass(frozen=True)
class _Footer:
    """A score file's parsed Parquet footer and the ``animal_id`` range of each row group."""

    metadata: pq.FileMetaData
    animal_min: np.ndarray | None  # per row group; None when a group has no statistics
    animal_max: np.ndarray | None

    @classmethod
    def parse(cls, fh: object) -> _Footer:
        metadata = pq.read_metadata(fh)
        col = metadata.schema.names.index("animal_id")
        lo, hi = [], []
        for i in range(metadata.num_row_groups):
            stats = metadata.row_group(i).column(col).statistics
            if stats is None or not stats.has_min_max:
                return cls(metadata, None, None)
            lo.append(stats.min)
            hi.append(stats.max)
        return cls(metadata, np.array(lo, dtype="int64"), np.array(hi, dtype="int64"))

    def row_groups_of(self, animal_ids: Sequence[int] | None) -> list[int]:
        """The row groups that may hold ``animal_ids`` (all of them without ids or statistics)."""
        every = list(range(self.metadata.num_row_groups))
        if animal_ids is None or self.animal_min is None or self.animal_max is None:
            return every
        ids = np.unique(np.asarray(animal_ids, dtype="int64"))
        first = np.searchsorted(ids, self.animal_min, side="left")
        past = np.searchsorted(ids, self.animal_max, side="right")
        return [int(i) for i in np.flatnonzero(past > first)]


class _Footers:
    """Parsed footers of day and bucket files, one per path, reused while the file is the same file.

    A score file is replaced by a rename (a rerun, compaction), never changed in place, so a footer is
    valid as long as the file opened is the one it was parsed from. The identity is taken from
    the open handle itself: ``fstat`` of a local file (inode, size, mtime: the inode the handle
    holds, so a rename between a check and the read cannot pair an old footer with a new file),
    else the details fsspec recorded when it opened the object (size, ETag / mtime). Bounded:
    a process reads a few weeks of days at most, and a footer is a few hundred kB at most."""

    MAX = 512  # a day's loose files (144 buckets, each shard a file) and a few weeks of day files

    def __init__(self) -> None:
        self._by_path: dict[str, tuple[tuple, _Footer]] = {}
        self._lock = threading.Lock()

    def of(self, path: str, fh: object) -> _Footer:
        key = _identity(fh)
        with self._lock:
            held = self._by_path.get(path)
        if held is not None and key is not None and held[0] == key:
            return held[1]
        footer = _Footer.parse(fh)
        if key is not None:
            with self._lock:
                self._by_path.pop(path, None)
                while len(self._by_path) >= self.MAX:
                    self._by_path.pop(next(iter(self._by_path)))
                self._by_path[path] = (key, footer)
        return footer


def _identity(fh: object) -> tuple | None:
    """What tells an open score file from a file later renamed over the same path (None: unknown)."""
    try:
        st = os.fstat(fh.fileno())  # type: ignore[attr-defined]
        return ("local", st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    details = getattr(fh, "details", None)
    if isinstance(details, dict) and details.get("size") is not None:
        tag = details.get("ETag", details.get("etag", details.get("md5Hash", details.get("generation"))))
        if tag is not None:
            return ("remote", details["size"], str(tag))
    return None


@dataclass(frozen=True)
class CompactionReport:
    day: str
    scores: int
    loose_files_removed: int
    bytes: int


def merge_day(compacted: pd.DataFrame | None, loose: list[tuple[LooseFile, pd.DataFrame]]) -> pd.DataFrame:
    """The scores of a day: the day file's rows, superseded per bucket by its loose files.

    For a bucket with loose files, a day-file row is dropped when its shard has a loose file or
    its animal is in one; among loose files of one bucket written under different shard layouts,
    each animal's rows come from the newest file. The one home of "which stored score counts"."""
    parts: list[pd.DataFrame] = []
    by_bucket: dict[pd.Timestamp, list[tuple[LooseFile, pd.DataFrame]]] = {}
    for f, frame in loose:
        by_bucket.setdefault(f.bucket, []).append((f, frame))
    if compacted is not None and len(compacted):
        if by_bucket:
            drop = np.zeros(len(compacted), dtype=bool)
            buckets = compacted["bucket_start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            for bucket, files in by_bucket.items():
                in_bucket = buckets == np.datetime64(pd.Timestamp(bucket).tz_convert("UTC").tz_localize(None))
                if not in_bucket.any():
                    continue
                shards = {f.shard for f, _ in files}
                animals = np.unique(np.concatenate([fr["animal_id"].to_numpy() for _, fr in files])) \
                    if any(len(fr) for _, fr in files) else np.array([], dtype="int32")
                drop |= in_bucket & (compacted["shard"].isin(shards).to_numpy()
                                     | np.isin(compacted["animal_id"].to_numpy(), animals))
            compacted = compacted.loc[~drop]
        parts.append(compacted[COLUMNS])
    for _bucket, files in sorted(by_bucket.items(), key=lambda kv: kv[0]):
        if len({f.layout for f, _ in files}) > 1:  # a layout change: newest file per animal
            files = sorted(files, key=lambda x: x[0].modified, reverse=True)
            seen: np.ndarray = np.array([], dtype="int64")
            for _f, frame in files:
                keep = ~np.isin(frame["animal_id"].to_numpy(), seen)
                seen = np.union1d(seen, frame["animal_id"].to_numpy())
                parts.append(frame.loc[keep])
        else:
            parts.extend(frame for _f, frame in files)
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    return _sorted(pd.concat(parts, ignore_index=True))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Scores in the order every reader gets them: by bucket, lineage, animal (stable)."""
    order = np.lexsort((frame["animal_id"].to_numpy(), frame["lineage_id"].to_numpy(),
                        pd.DatetimeIndex(frame["bucket_start"]).asi8))
    if (order[1:] > order[:-1]).all():  # already in order (a cow's days are)
        return frame.reset_index(drop=True)
    return frame.take(order).reset_index(drop=True)


def bucket_table(lineage_ids: np.ndarray, animal_ids: np.ndarray, scores: np.ndarray) -> pa.Table:
    """A bucket file's rows, sorted by (animal, lineage) as they are written."""
    order = np.lexsort((lineage_ids, animal_ids))
    return pa.Table.from_arrays([pa.array(np.asarray(lineage_ids, dtype="int32")[order]),
                                 pa.array(np.asarray(animal_ids, dtype="int32")[order]),
                                 pa.array(np.asarray(scores, dtype="float64")[order])], schema=BUCKET_SCHEMA)


def _only(table: pa.Table, lineage_ids: Iterable[int] | None, animal_ids: Sequence[int] | None) -> pa.Table:
    """The rows of ``table`` of ``lineage_ids`` and ``animal_ids`` (each when given)."""
    mask = None
    for column, ids in (("animal_id", animal_ids), ("lineage_id", lineage_ids)):
        if ids is not None:
            m = pc.is_in(table.column(column), pa.array(sorted({int(i) for i in ids}), pa.int32()))
            mask = m if mask is None else pc.and_(mask, m)
    return table if mask is None else table.filter(mask)


def _frame(table: pa.Table) -> pd.DataFrame:
    cols = {}
    for name in ("lineage_id", "animal_id"):
        cols[name] = table.column(name).to_numpy().astype("int64") if table.num_rows else np.array([], "int64")
    cols["score"] = table.column("score").to_numpy() if table.num_rows else np.array([], "float64")
    frame = pd.DataFrame(cols)
    if "bucket_start" in table.column_names:
        # Through int64 microseconds: a tz-aware column's to_numpy() is one Timestamp object a
        # row (3.7 s for 1,000,000 rows, the cost of every read before).
        micros = pc.cast(table.column("bucket_start"), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
        frame["bucket_start"] = pd.DatetimeIndex(micros.astype("datetime64[us]")).tz_localize("UTC")
        if "shard" in table.column_names:
            frame["shard"] = table.column("shard").to_pandas().astype(object).to_numpy() if table.num_rows else \
                np.array([], dtype=object)
    return frame


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"lineage_id": pd.Series(dtype="int64"), "animal_id": pd.Series(dtype="int64"),
                         "bucket_start": pd.Series(dtype="datetime64[us, UTC]"),
                         "score": pd.Series(dtype="float64"), "shard": pd.Series(dtype=object)})


def _mtime(info: dict) -> float:
    value = info.get("mtime", info.get("LastModified", info.get("last_modified", info.get("created", 0.0))))
    if isinstance(value, (int, float)):
        return float(value)
    return pd.Timestamp(value).timestamp()


def days_of(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The UTC days ``[start, end)`` touches."""
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    if e <= s:
        return []
    return list(pd.date_range(s.normalize(), (e - BUCKET).normalize(), freq="D"))


__all__ = ["BUCKET_SCHEMA", "COLUMNS", "DAY_SCHEMA", "WHOLE", "CompactionReport", "LooseFile", "ScoreFiles",
           "bucket_table", "days_of", "merge_day"]
