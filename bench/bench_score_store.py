"""Where scores live: InfluxDB or Parquet, by measurement (issue 23, part 2).

Both candidates hold the same scores, written and read through the project's own code:

* ``parquet``: the score store as the engine uses it — ``ScoreWriter`` (one file per bucket,
  written atomically), ``ScoreFiles.compact_day`` (the day sorted by animal) and
  ``ScoreStore.read`` with the herd DB's ``scoring_lineage`` (a SQLite file here);
* ``influx``: a real InfluxDB 1.6 (started here) written through the sensor store layer
  (``InfluxSensorStore._write_frames``: influxdb-client's serialiser in worker processes, two
  posts in flight) and read with its InfluxQL helpers (``_raw_select``, ``_parse_series``).
  Schema: one measurement per use case x role (``scores_heat_champion`` ...), tag
  ``animal_id``, fields ``score`` (float) and ``lineage_id`` (integer), so a cow has six series
  as the engine writes six scores a bucket (3 use cases x champion + shadow); ``lineage_id``
  is a field, not a tag: every run has new lineage rows and a tag would add series each run.

Scores are synthetic, drawn from Beta(0.6, 6) (float64, mostly small probabilities, like the
models' outputs); lineage rows are recorded per bucket as a ten-minute run records them (six a
run). Two data sets:

* **fleet** (``--animals``, default 100,000; ``--buckets`` ten-minute buckets, default 6): the
  write time of one bucket (median over the buckets; 600,000 scores at 100,000 animals), bytes
  per score at rest after each store's own compaction, and influxd's memory at that series count;
* **week** (``--day-animals``, default 10,000; ``--days`` x ``--day-buckets``, default 7 x 144):
  one cow's 7-day history (median of 3 cows), one day of champion scores of one use case (what
  drift, alert volume and model performance read; median of the 3 use cases), bytes per score
  of whole compacted days, and retention (dropping the oldest day: Parquet removes the day's
  file; InfluxDB drops the day's shard, as its retention policy does, and a ``DELETE`` of the
  next day is timed too). A smaller herd keeps this part's load (60 M scores at 10,000
  animals) within minutes: read times of one cow do not depend on the herd size, a day of
  champion scores scales with it.

"At rest after compaction": Parquet after ``compact_day`` (day file and loose files counted);
InfluxDB after its own full compaction (influxd is started with ``cache-snapshot-write-cold-duration``
and ``compact-full-write-cold-duration`` of seconds instead of 10 min / 4 h, and the bench waits
until every shard is one TSM file and the WAL is empty), measured as the bytes of the
database's data folder (TSM files; the index is in memory).

It prints a table and, with ``--json``, one JSON line at the end. ``--quick`` runs a small case
in a few seconds (the test of this script uses it).

Run: ``python bench/bench_score_store.py [--animals 100000] [--day-animals 10000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

B = pd.Timedelta(minutes=10)
DAY = pd.Timedelta(days=1)
USE_CASES = ("heat", "calving", "fever")
ROLES = tuple((uc, shadow) for uc in USE_CASES for shadow in (False, True))
FIELDS = ("score", "lineage_id")
FLEET_START = pd.Timestamp("2026-11-20 12:00", tz="UTC")  # the fleet's buckets: one afternoon
WEEK_START = pd.Timestamp("2026-11-01", tz="UTC")  # the week's first day
COLD = {  # influxd: snapshot and fully compact a shard seconds (not 10 min / 4 h) after its last write
    "INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION": "2s",
    "INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION": "3s",
}


def measurement(use_case: str, shadow: bool) -> str:
    return f"scores_{use_case}_{'shadow' if shadow else 'champion'}"


# ---------------------------------------------------------------------------------- the data


class Lineage:
    """The herd DB's scoring lineage: six rows per bucket, recorded as a ten-minute run does."""

    def __init__(self, url: str) -> None:
        from smx_assets.domain.herd_db_migrate import upgrade_herd_db
        from smx_assets.domain.sql_engine import make_engine

        upgrade_herd_db(url)
        self.engine = make_engine(url)
        self.role_of: dict[int, tuple[str, bool]] = {}

    def record(self, bucket: pd.Timestamp) -> dict[tuple[str, bool], int]:
        from smx_assets.domain.score_store.lineage import RunLineage, ScoredModel, record_lineage

        run = RunLineage(code_version="bench", partition_key=bucket.strftime("%Y-%m-%d-%H:%M"), dagster_run_id=None,
                         window_start=bucket, window_end=bucket + B, shard="", feature_ref=None, scored_at=bucket + B)
        models = [ScoredModel(uc, shadow, f"smx-{uc}", "4" if shadow else "3", "challenger" if shadow else "champion",
                              f"run-{uc}-{int(shadow)}") for uc, shadow in ROLES]
        ids = record_lineage(self.engine, run, models)
        self.role_of.update({lid: role for role, lid in ids.items()})
        return ids


def bucket_scores(animals: np.ndarray, bucket: pd.Timestamp, ids: dict[tuple[str, bool], int],
                  rng: np.random.Generator) -> pd.DataFrame:
    """One bucket's scores as the engine hands them to the writer: six per animal."""
    n = len(animals)
    lineage = np.repeat(np.array([ids[r] for r in ROLES], dtype="int64"), n)
    return pd.DataFrame({"lineage_id": lineage, "animal_id": np.tile(animals, len(ROLES)),
                         "bucket_start": pd.Series(bucket, index=range(n * len(ROLES)), dtype="datetime64[us, UTC]"),
                         "score": rng.beta(0.6, 6.0, n * len(ROLES))})


# ------------------------------------------------------------------------------- the stores


class ParquetScores:
    """The project's score store (``ScoreWriter`` / ``ScoreFiles`` / ``ScoreStore``)."""

    name = "parquet"

    def __init__(self, folder: Path, lineage: Lineage) -> None:
        from smx_assets.domain.score_store import ScoreFiles, ScoreStore

        self.files = ScoreFiles(str(folder))
        self.store = ScoreStore(lineage.engine, self.files)

    def write(self, frame: pd.DataFrame, buckets: list[pd.Timestamp]) -> None:
        from smx_assets.domain.score_store.writer import ScoreWriter

        writer = ScoreWriter(self.files)
        writer.replace(0, frame)
        writer.commit(buckets)

    def compact(self, days: list[pd.Timestamp]) -> None:
        for day in days:
            self.files.compact_day(day)

    def bytes_at_rest(self) -> int:
        return self.files.bytes_at_rest()

    def cow(self, animal_id: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        return self.store.read(start, end, animal_ids=[animal_id], lineage=("use_case", "shadow"))

    def champion_day(self, use_case: str, day: pd.Timestamp) -> pd.DataFrame:
        return self.store.read(day, day + DAY, use_case=use_case, shadow=False, lineage=())

    def cow_arrow(self, animal_id: int, start: pd.Timestamp, end: pd.Timestamp) -> int:
        """The day files' part of :meth:`cow`: pyarrow's filtered read alone (no pandas, no lineage)."""
        days = [d for d in self.files.days() if start <= d < end]
        return sum(pq.read_table(self.files.day_path(d), filters=[("animal_id", "==", animal_id)]).num_rows
                   for d in days)

    def champion_day_arrow(self, use_case: str, day: pd.Timestamp) -> int:
        """The day file's part of :meth:`champion_day`: pyarrow's filtered read alone."""
        from smx_assets.domain.score_store.lineage import lineage_rows

        ids = lineage_rows(self.store.engine, start=day, end=day + DAY, use_case=use_case, shadow=False)["id"].tolist()
        return pq.read_table(self.files.day_path(day), filters=[("lineage_id", "in", ids)]).num_rows

    def drop_day(self, day: pd.Timestamp) -> dict[str, float]:
        t0 = time.perf_counter()
        dropped = self.files.drop_days_before(day + DAY)
        seconds = time.perf_counter() - t0
        assert dropped == [day.strftime("%Y-%m-%d")], dropped
        return {"retention_s": seconds}


class InfluxScores:
    """Scores in InfluxDB through the sensor store layer (schema: see the module docstring)."""

    name = "influx"

    def __init__(self, server: object, database: str, lineage: Lineage) -> None:
        from smx_assets.domain.sensor_store.influx_store import InfluxSensorStore

        self.server = server
        self.database = database
        self.lineage = lineage
        self.store = InfluxSensorStore(server.http_url, database, timeout_s=600.0)  # type: ignore[attr-defined]
        list(self.store._query(f'CREATE DATABASE "{database}"', write=True))
        # one shard per day, as the sensor store's retention sets it (dropping a day = one shard)
        list(self.store._query(f'ALTER RETENTION POLICY "autogen" ON "{database}" SHARD DURATION 1d', write=True))

    def write(self, frame: pd.DataFrame, buckets: list[pd.Timestamp]) -> None:
        known = sorted(self.lineage.role_of)
        names = pd.Series([measurement(*self.lineage.role_of[i]) for i in known], index=known)
        by_name = names.reindex(frame["lineage_id"].to_numpy()).to_numpy()
        index = pd.DatetimeIndex(frame["bucket_start"])
        data = pd.DataFrame({"animal_id": frame["animal_id"].to_numpy(), "score": frame["score"].to_numpy(),
                             "lineage_id": frame["lineage_id"].to_numpy(dtype="int64")}, index=index)
        for name in sorted(set(by_name)):
            self.store._write_frames([data[by_name == name]], name, "animal_id")

    def _folder(self, kind: str) -> Path:
        return Path(self.server.base_dir) / kind / self.database  # type: ignore[attr-defined]

    def compact(self, days: list[pd.Timestamp], timeout_s: float = 900.0) -> None:
        """Wait for influxd's own full compaction: every shard one TSM file, no WAL data, stable."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            shards = [p for p in (self._folder("data") / "autogen").glob("*") if p.is_dir()]
            tsm = [len(list(s.glob("*.tsm"))) for s in shards]
            wal = sum(f.stat().st_size for f in self._folder("wal").rglob("*.wal"))
            state = (tuple(tsm), self.bytes_at_rest())
            if shards and all(n == 1 for n in tsm) and wal == 0 and state == last:
                return
            last = state
            time.sleep(2.0)
        raise RuntimeError(f"InfluxDB did not finish compacting {self.database} in {timeout_s:.0f} s")

    def bytes_at_rest(self) -> int:
        """Allocated bytes (as ``du``) of the database's data folder: TSM files, ``fields.idx``
        and the series file (``_series``: preallocated segments, only their written part counts)."""
        return sum(f.stat().st_blocks * 512 for f in self._folder("data").rglob("*") if f.is_file())

    def _roles_of(self, results: list[dict], fields: tuple[str, ...] = FIELDS) -> pd.DataFrame:
        parts = []
        for result, (uc, shadow) in zip(results, ROLES):
            ids, vals = self.store._parse_series(iter([result]), fields, "animal_id")
            parts.append(pd.DataFrame({"animal_id": ids, "bucket_start": pd.to_datetime(vals[:, 0], unit="s", utc=True),
                                       "score": vals[:, 1], "lineage_id": vals[:, 2].astype("int64"),
                                       "use_case": uc, "shadow": shadow}))
        return pd.concat(parts, ignore_index=True)

    def cow(self, animal_id: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        from smx_assets.domain.sensor_store.influx_store import _id_filter, _raw_select

        s, e = int(start.timestamp()), int(end.timestamp())
        q = "; ".join(_raw_select(measurement(*r), "animal_id", FIELDS, s, e, _id_filter("animal_id", [animal_id]))
                      for r in ROLES)
        return self._roles_of(list(self.store._query(q)))

    def champion_day(self, use_case: str, day: pd.Timestamp) -> pd.DataFrame:
        from smx_assets.domain.sensor_store.influx_store import _raw_select

        s, e = int(day.timestamp()), int((day + DAY).timestamp())
        ids, vals = self.store._parse_series(
            self.store._query(_raw_select(measurement(use_case, False), "animal_id", FIELDS, s, e)), FIELDS, "animal_id")
        return pd.DataFrame({"animal_id": ids, "bucket_start": pd.to_datetime(vals[:, 0], unit="s", utc=True),
                             "score": vals[:, 1], "lineage_id": vals[:, 2].astype("int64")})

    def _shard_of(self, day: pd.Timestamp) -> int:
        for result in self.store._query("SHOW SHARDS"):
            for series in result.get("series", []):
                if series.get("name") != self.database:
                    continue
                for values in series.get("values", []):
                    row = dict(zip(series["columns"], values))
                    if pd.Timestamp(row["start_time"]) == day:
                        return int(row["id"])
        raise RuntimeError(f"no shard of {day.date()} in {self.database}")

    def _points(self, start: pd.Timestamp, end: pd.Timestamp) -> int:
        s, e = int(start.timestamp()), int(end.timestamp())
        q = f'SELECT count("score") FROM /^scores_/ WHERE time >= {s}s AND time < {e}s'
        return int(sum(series["values"][0][1] for result in self.store._query(q) for series in result.get("series", [])))

    def drop_day(self, day: pd.Timestamp) -> dict[str, float]:
        shard = self._shard_of(day)
        t0 = time.perf_counter()
        list(self.store._query(f"DROP SHARD {shard}", write=True))
        drop_s = time.perf_counter() - t0
        assert self._points(day, day + DAY) == 0
        nxt, s, e = day + DAY, int((day + DAY).timestamp()), int((day + 2 * DAY).timestamp())
        t0 = time.perf_counter()
        list(self.store._query(f"DELETE FROM /^scores_/ WHERE time >= {s}s AND time < {e}s", write=True))
        delete_s = time.perf_counter() - t0
        assert self._points(nxt, nxt + DAY) == 0
        return {"retention_s": drop_s, "retention_delete_s": delete_s}

    def series(self) -> int:
        q = f'SHOW SERIES CARDINALITY ON "{self.database}"'
        return int(sum(series["values"][0][0] for result in self.store._query(q) for series in result.get("series", [])))


def rss_mb(pid: int) -> dict[str, float]:
    """influxd's resident memory now and at its peak (``/proc/<pid>/status``)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return {"rss_mb": out["VmRSS"], "peak_rss_mb": out["VmHWM"]}


# ------------------------------------------------------------------------------ the measures


def _median_time(fn: Callable[[], object], check: Callable[[object], None], args: list) -> float:
    times = []
    for a in args:
        t0 = time.perf_counter()
        out = fn(*a)
        times.append(time.perf_counter() - t0)
        check(out)
    return statistics.median(times)


def _equal(n: object, expected: int) -> None:
    assert n == expected, (n, expected)


def fleet(stores: list, lineage: Lineage, n_animals: int, n_buckets: int, rng: np.random.Generator,
          influx_pid: int | None) -> dict[str, dict[str, float]]:
    """Write ``n_buckets`` buckets of ``n_animals`` to each store; compact; bytes; memory."""
    animals = np.arange(1, n_animals + 1, dtype="int64")
    res: dict[str, dict[str, float]] = {s.name: {"write": []} for s in stores}
    for k in range(n_buckets):
        bucket = FLEET_START + k * B
        frame = bucket_scores(animals, bucket, lineage.record(bucket), rng)
        for s in stores:
            t0 = time.perf_counter()
            s.write(frame, [bucket])
            res[s.name]["write"].append(time.perf_counter() - t0)
        print(f"  fleet bucket {k + 1}/{n_buckets}: " + ", ".join(
            f"{s.name} {res[s.name]['write'][-1]:.3f} s" for s in stores), flush=True)
    scores = n_animals * len(ROLES) * n_buckets
    out = {}
    for s in stores:
        t0 = time.perf_counter()
        s.compact([FLEET_START.normalize()])
        compact_s = time.perf_counter() - t0
        w = res[s.name]["write"]
        out[s.name] = {"write_s": statistics.median(w), "write_first_s": w[0], "write_max_s": max(w),
                       "compact_s": compact_s, "bytes_per_score": s.bytes_at_rest() / scores}
        if s.name == "influx" and influx_pid is not None:
            out[s.name].update(rss_mb(influx_pid))
            out[s.name]["series"] = s.series()
    return out


def week(stores: list, lineage: Lineage, n_animals: int, n_days: int, day_buckets: int,
         rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Load ``n_days`` x ``day_buckets`` of ``n_animals`` (a day at a time), compact, then read."""
    animals = np.arange(1, n_animals + 1, dtype="int64")
    days = [WEEK_START + k * DAY for k in range(n_days)]
    load = {s.name: 0.0 for s in stores}
    for day in days:
        buckets = [day + k * B for k in range(day_buckets)]
        frames = [bucket_scores(animals, b, lineage.record(b), rng) for b in buckets]
        for s in stores:
            t0 = time.perf_counter()
            if s.name == "parquet":  # as the engine writes them: one file per bucket
                for b, f in zip(buckets, frames):
                    s.write(f, [b])
            else:  # the whole day in one call: the fastest way into InfluxDB (not what is measured)
                s.write(pd.concat(frames, ignore_index=True), buckets)
            load[s.name] += time.perf_counter() - t0
        print(f"  week {day.date()}: loaded ({', '.join(f'{k} {v:.0f} s' for k, v in load.items())} so far)", flush=True)
    scores = n_animals * len(ROLES) * n_days * day_buckets
    out: dict[str, dict[str, float]] = {}
    start, end = days[0], days[-1] + DAY
    cows = [int(a) for a in rng.choice(animals, size=3, replace=False)]
    mid = days[len(days) // 2]
    for s in stores:
        t0 = time.perf_counter()
        s.compact(days)
        r = {"load_s": load[s.name], "week_compact_s": time.perf_counter() - t0,
             "bytes_per_score_day": s.bytes_at_rest() / scores}

        def cow_check(frame: pd.DataFrame) -> None:
            assert len(frame) == len(ROLES) * n_days * day_buckets, len(frame)
            assert frame["animal_id"].nunique() == 1

        def day_check(frame: pd.DataFrame) -> None:
            assert len(frame) == n_animals * day_buckets, len(frame)

        s.cow(cows[0], start, end)  # one warm-up read (imports, connections, OS cache)
        r["cow_7d_s"] = _median_time(s.cow, cow_check, [(a, start, end) for a in cows])
        r["champion_day_s"] = _median_time(s.champion_day, day_check, [(uc, mid) for uc in USE_CASES])
        if isinstance(s, ParquetScores):  # how much of it is the file read itself
            r["cow_7d_arrow_s"] = _median_time(
                s.cow_arrow, lambda n: _equal(n, len(ROLES) * n_days * day_buckets), [(a, start, end) for a in cows])
            r["champion_day_arrow_s"] = _median_time(
                s.champion_day_arrow, lambda n: _equal(n, n_animals * day_buckets), [(uc, mid) for uc in USE_CASES])
        r.update(s.drop_day(days[0]))
        out[s.name] = r
    return out


def _terminate(_sig: int, _frame: object) -> None:
    raise SystemExit(143)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) / 1024 ** 2
    return f"{os.cpu_count()} cores {cpu}, {mem:.0f} GB RAM, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=100_000, help="fleet size for write, bytes and memory")
    parser.add_argument("--buckets", type=int, default=6, help="fleet buckets written (>= 6)")
    parser.add_argument("--day-animals", type=int, default=10_000, help="herd of the week data set (reads, retention)")
    parser.add_argument("--days", type=int, default=7, help="days of the week data set (>= 3)")
    parser.add_argument("--day-buckets", type=int, default=144, help="buckets a day in the week data set")
    parser.add_argument("--backends", nargs="+", default=["parquet", "influx"], choices=["parquet", "influx"])
    parser.add_argument("--quick", action="store_true", help="a small case in a few seconds (tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON line at the end")
    args = parser.parse_args()
    if args.quick:
        args.animals, args.buckets, args.day_animals, args.days, args.day_buckets = 500, 6, 100, 3, 12
    if args.buckets < 6 or args.days < 3:
        parser.error("--buckets must be >= 6 and --days >= 3")

    print(f"machine: {machine()}; load average at start: {os.getloadavg()}", flush=True)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_score_store_"))
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    server = None
    old_env = {k: os.environ.get(k) for k in COLD}
    signal.signal(signal.SIGTERM, _terminate)  # a killed bench still stops its influxd (finally)
    try:
        lineage = Lineage(f"sqlite:///{root / 'herd.db'}")
        if "influx" in args.backends:
            from smx_assets.devtools.influx_server import InfluxServer

            os.environ.update(COLD)  # influxd reads INFLUXDB_* over its config file
            server = InfluxServer.start(root / "influxdb")

        def make(label: str) -> list:
            out: list = []
            if "parquet" in args.backends:
                out.append(ParquetScores(root / f"parquet_{label}", lineage))
            if server is not None:
                out.append(InfluxScores(server, f"scores_{label}", lineage))
            return out

        t0 = time.perf_counter()
        print(f"fleet: {args.animals} animals x {args.buckets} buckets", flush=True)
        f = fleet(make("fleet"), lineage, args.animals, args.buckets, rng, server.pid if server else None)
        print(f"week: {args.day_animals} animals x {args.days} days x {args.day_buckets} buckets", flush=True)
        w = week(make("week"), lineage, args.day_animals, args.days, args.day_buckets, rng)
        total_s = time.perf_counter() - t0
    finally:
        if server is not None:
            server.stop()
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    fleet_scores, day_scores = args.animals * len(ROLES), args.day_animals * len(ROLES) * args.day_buckets
    rows = [
        (f"write one bucket, {args.animals:,} animals ({fleet_scores:,} scores), median of {args.buckets}",
         "write_s", f, "{:.3f} s"),
        (f"bytes per score at rest, {args.buckets} buckets of {args.animals:,} animals, compacted",
         "bytes_per_score", f, "{:.2f}"),
        (f"bytes per score at rest, {args.days} whole days of {args.day_animals:,} animals ({day_scores:,} a day)",
         "bytes_per_score_day", w, "{:.2f}"),
        ("compaction of the fleet's buckets (Parquet: compact_day; InfluxDB: wait for its own)", "compact_s", f,
         "{:.2f} s"),
        (f"one cow's {args.days}-day history, 6 series (median of 3 cows)", "cow_7d_s", w, "{:.3f} s"),
        ("  of which the day files' read (pyarrow, filtered; no pandas frame, no lineage join)", "cow_7d_arrow_s", w,
         "{:.3f} s"),
        (f"one day of champion scores of one use case, {args.day_animals:,} animals (median of 3)",
         "champion_day_s", w, "{:.3f} s"),
        ("  of which the day file's read (pyarrow, filtered)", "champion_day_arrow_s", w, "{:.3f} s"),
        ("retention: drop a day (Parquet: remove the day; InfluxDB: DROP SHARD)", "retention_s", w, "{:.3f} s"),
        ("retention: InfluxDB DELETE of a day", "retention_delete_s", w, "{:.3f} s"),
        (f"influxd resident memory after the fleet ({args.animals * len(ROLES):,} series)", "rss_mb", f, "{:.0f} MB"),
        ("influxd peak resident memory (fleet)", "peak_rss_mb", f, "{:.0f} MB"),
        ("series in InfluxDB (fleet)", "series", f, "{:,}"),
    ]
    names = [b for b in ("parquet", "influx") if b in args.backends]
    print(f"\nload average at end: {os.getloadavg()}; {total_s:.0f} s in all")
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  " + "  ".join(f"{n:>12}" for n in names))
    for label, key, src, fmt in rows:
        cells = [fmt.format(src[n][key]) if key in src.get(n, {}) else "-" for n in names]
        if any(c != "-" for c in cells):
            print(f"{label:<{width}}  " + "  ".join(f"{c:>12}" for c in cells))
    if args.json:
        result: dict[str, object] = {"animals": args.animals, "buckets": args.buckets, "day_animals": args.day_animals,
                                     "days": args.days, "day_buckets": args.day_buckets, "seconds": round(total_s, 1),
                                     "load_average": [round(x, 2) for x in os.getloadavg()]}
        for n in names:
            for key, value in {**f[n], **w[n]}.items():
                result[f"{n}_{key}"] = round(float(value), 4) if key != "series" else int(value)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
