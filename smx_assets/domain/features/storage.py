"""Parquet files of the feature layer under one base path: a local folder or any fsspec URL.

Layout (one file per UTC day, so a daily partition is one object and a backfill of N days
writes N independent files that can be re-run one by one)::

    <base>/training_features/2024-05-01.parquet
    <base>/sensor_baselines/2024-05-01.parquet
    <base>/animal_profiles/2024-05-01/<table>.parquet   (the FarmRecords snapshot)
    <base>/animal_profiles/2024-05-01/snapshot.parquet (one row per animal, for people)
    <base>/scored_features/2024-05-01/<HHMM>.parquet   (vectors scoring used, one file a bucket)

Files are written to a temporary name and moved into place, so a reader never sees half a file.
"""

from __future__ import annotations

import posixpath
import re
import uuid

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from smx_assets.domain.features.profile import FarmRecords, normalise_records
from smx_assets.domain.redaction import mask_url, normalise_url, register_url
from smx_assets.domain.time_grid import day_key

TRAINING = "training_features"
BASELINES = "sensor_baselines"
PROFILES = "animal_profiles"
SCORED = "scored_features"


class FeatureFiles:
    """Read and write the feature layer's Parquet files under ``base_path``."""

    def __init__(self, base_path: str, **storage_options: object) -> None:
        register_url(base_path)
        self.base_path = normalise_url(base_path.rstrip("/"))
        # What metadata, logs and stored feature references show: the base with any password masked.
        self.display_base = mask_url(self.base_path)
        self.fs, self.root = fsspec.core.url_to_fs(self.base_path, **storage_options)

    def path(self, kind: str, day: pd.Timestamp | str, table: str | None = None) -> str:
        if table is None:
            return posixpath.join(self.root, kind, f"{day_key(day)}.parquet")
        return posixpath.join(self.root, kind, day_key(day), f"{table}.parquet")

    def url(self, kind: str, day: pd.Timestamp | str, table: str | None = None) -> str:
        """The location as the user configured it, password masked (for metadata, logs, refs)."""
        rel = posixpath.relpath(self.path(kind, day, table), self.root)
        return f"{self.display_base}/{rel}"

    def resolve(self, url: str) -> str:
        """The real location behind a URL from :meth:`url` (a stored ``feature_ref``, say)."""
        if url.startswith(self.display_base + "/"):
            return self.base_path + url[len(self.display_base):]
        return url

    def write(self, frame: pd.DataFrame, kind: str, day: pd.Timestamp | str, table: str | None = None) -> str:
        target = self.path(kind, day, table)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        with self.fs.open(tmp, "wb") as fh:
            frame.to_parquet(fh, index=False)
        self.fs.mv(tmp, target)
        return self.url(kind, day, table)

    def exists(self, kind: str, day: pd.Timestamp | str, table: str | None = None) -> bool:
        return self.fs.exists(self.path(kind, day, table))

    def read(self, kind: str, day: pd.Timestamp | str, table: str | None = None,
             columns: list[str] | None = None) -> pd.DataFrame | None:
        """The stored frame (only ``columns`` when given), or None when that day was never materialised."""
        p = self.path(kind, day, table)
        if not self.fs.exists(p):
            return None
        with self.fs.open(p, "rb") as fh:
            return pd.read_parquet(fh, columns=columns)

    # -- typed helpers ---------------------------------------------------------------------

    def read_baselines(self, days: list[pd.Timestamp]) -> pd.DataFrame | None:
        frames = [f for f in (self.read(BASELINES, d) for d in days) if f is not None]
        return pd.concat(frames, ignore_index=True) if frames else None

    def write_records(self, records: FarmRecords, day: pd.Timestamp | str) -> None:
        for name, frame in records.tables().items():
            self.write(frame, PROFILES, day, name)

    def read_records(self, day: pd.Timestamp | str) -> FarmRecords | None:
        tables = {}
        for name in FarmRecords.TABLES:
            frame = self.read(PROFILES, day, name)
            if frame is None:
                return None
            tables[name] = frame
        return normalise_records(FarmRecords(**tables))

    def write_scored(self, features: pd.DataFrame) -> dict[pd.Timestamp, str]:
        """The feature vectors a scoring run used, one Parquet file per bucket (rerun-safe
        overwrite); returns bucket -> URL (stored on each prediction as ``feature_ref``)."""
        refs: dict[pd.Timestamp, str] = {}
        for bucket, frame in features.groupby("bucket_start", sort=True):
            b = pd.Timestamp(bucket)
            refs[b] = self.write(frame.reset_index(drop=True), SCORED, b, table=b.strftime("%H%M"))
        return refs

    def scored_writer(self, suffix: str = "") -> ScoredFeatureWriter:
        """A streaming :meth:`write_scored` for a run that computes its vectors chunk by chunk.

        ``suffix``: appended to each bucket's file name (``1210.shard-3-of-4``), so the shards
        of one bucket each write their own file of the day's folder."""
        return ScoredFeatureWriter(self, suffix)

    def read_scored(self, day: pd.Timestamp | str) -> pd.DataFrame | None:
        """All feature vectors scored on one UTC day (drift monitoring's "current" data)."""
        folder = self.path(SCORED, day, table="x").rsplit("/", 1)[0]
        if not self.fs.exists(folder):
            return None
        frames = []
        for paths in _bucket_file_groups(self.fs.glob(f"{folder}/*.parquet")).values():
            frames.append(self._newest_vectors(paths) if _mixed_layouts(paths) else self._read_all(paths))
        return pd.concat(frames, ignore_index=True) if frames else None

    def _read_all(self, paths: list[str]) -> pd.DataFrame:
        parts = []
        for p in paths:
            with self.fs.open(p, "rb") as fh:
                parts.append(pd.read_parquet(fh))
        return pd.concat(parts, ignore_index=True)

    def _newest_vectors(self, paths: list[str]) -> pd.DataFrame:
        """One bucket scored under two shard layouts (``SMX_SCORING_SHARDS`` changed, then the
        bucket re-scored): each animal's vector from the newest file that holds it, so drift
        never counts an animal twice and a shard not yet re-scored keeps its older vectors."""
        newest_first = sorted(paths, key=lambda p: pd.Timestamp(self.fs.modified(p)).value, reverse=True)
        frame = self._read_all(newest_first)
        frame = frame.drop_duplicates(["animal_id", "bucket_start"], keep="first")
        return frame.sort_values(["bucket_start", "animal_id"], kind="stable", ignore_index=True)


_SHARD_SUFFIX = re.compile(r"^\d{4}\.shard-\d+-of-(\d+)\.parquet$")


def _bucket_file_groups(paths: list[str]) -> dict[str, list[str]]:
    """A day's scored-vector files by bucket (``HHMM``: ``1210.parquet``, ``1210.shard-3-of-4.parquet``)."""
    groups: dict[str, list[str]] = {}
    for p in sorted(paths):
        groups.setdefault(posixpath.basename(p)[:4], []).append(p)
    return groups


def _mixed_layouts(paths: list[str]) -> bool:
    """Files of one bucket from more than one shard count (an unsharded file counts as 1)."""
    counts = set()
    for p in paths:
        m = _SHARD_SUFFIX.match(posixpath.basename(p))
        counts.add(int(m.group(1)) if m else 1)
    return len(counts) > 1


class ScoredFeatureWriter:
    """Writes a run's feature vectors chunk by chunk into the same one-file-per-bucket layout
    :meth:`FeatureFiles.write_scored` gives (each chunk a Parquet row group, chunks in animal
    order, so a reader gets the very frame a one-shot write stores).

    Files are written under a temporary name and moved into place by :meth:`commit`, for the
    buckets the run keeps only (a bucket found to have no readings at all gets no file, as
    before); :meth:`abort` removes them. Use as a context manager: an exception aborts.
    """

    def __init__(self, files: FeatureFiles, suffix: str = "") -> None:
        self.files = files
        self.suffix = suffix
        self._open: dict[pd.Timestamp, tuple[str, str, object, pq.ParquetWriter]] = {}

    def url(self, bucket: pd.Timestamp) -> str:
        b = pd.Timestamp(bucket)
        return self.files.url(SCORED, b, table=b.strftime("%H%M") + self.suffix)

    def add(self, features: pd.DataFrame) -> None:
        for bucket, frame in features.groupby("bucket_start", sort=True):
            b = pd.Timestamp(bucket)
            table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
            if b not in self._open:
                target = self.files.path(SCORED, b, table=b.strftime("%H%M") + self.suffix)
                self.files.fs.makedirs(posixpath.dirname(target), exist_ok=True)
                tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
                fh = self.files.fs.open(tmp, "wb")
                self._open[b] = (target, tmp, fh, pq.ParquetWriter(fh, table.schema))
            self._open[b][3].write_table(table)

    def _close(self) -> None:
        for _target, _tmp, fh, writer in self._open.values():
            writer.close()
            fh.close()  # type: ignore[attr-defined]

    def commit(self, keep: set[pd.Timestamp] | None = None) -> dict[pd.Timestamp, str]:
        """Move the files of ``keep`` (default: all) into place, drop the others; bucket -> URL."""
        self._close()
        refs: dict[pd.Timestamp, str] = {}
        for b, (target, tmp, _fh, _w) in sorted(self._open.items()):
            if keep is None or b in keep:
                self.files.fs.mv(tmp, target)
                refs[b] = self.url(b)
            else:
                self.files.fs.rm(tmp)
        self._open = {}
        return refs

    def abort(self) -> None:
        self._close()
        for _target, tmp, _fh, _w in self._open.values():
            if self.files.fs.exists(tmp):
                self.files.fs.rm(tmp)
        self._open = {}

    def __enter__(self) -> ScoredFeatureWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()
        elif self._open:
            self.commit()
