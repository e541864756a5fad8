"""Simulator + ingest throughput through the real path: simulate -> validate -> write.

Targets (issue 2): 1,000 animals x 30 days must load into InfluxDB in under 60 s and into the
SQL store in under 120 s on a 2-core machine. "Load" is what ``smx simulate`` does after
simulating: ``loader.load`` (herd DB rows, then every arrived climate and bolus reading through
``ingest_validation`` into the sensor store, rejections into the herd DB).

    python bench/bench_simulate_ingest.py [--animals 1000] [--days 30] [--seed 0]
        [--backends influx,sqlite[,postgres]] [--pg-url URL] [--profile FILE]

Per backend it prints: herd DB+sort s (herd DB rows and the loader sorting arrivals), validate s
(ingestion validation proper), write s (sensor store calls), rejections s (storing rejected readings
in the herd DB), load total s, rows/s, the peak RSS so far, and for InfluxDB the server's CPU
seconds (from /proc). Load average is printed at start and end: on a shared 2-core machine the
figures only mean something next to it.

Each backend gets a fresh herd DB (SQLite in a temp folder) and a fresh store: InfluxDB started
with ``InfluxServer`` in the temp folder, SQLite in the temp folder, PostgreSQL as a throw-away
database on the machine's server. Exit status 1 when a target is missed (scaled to the size).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _scratch_stores import BACKENDS, LOAD_TARGET_S, scratch_store  # noqa: E402

from smx_assets.domain import ingest_validation as iv  # noqa: E402
from smx_assets.domain.herd_db_migrate import upgrade_herd_db  # noqa: E402
from smx_assets.domain.simulator import (  # noqa: E402
    SimConfig,
    loader,  # noqa: E402
    simulate,
)
from smx_assets.domain.sql_engine import make_engine  # noqa: E402


def loadavg() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (and its reaped children) in seconds, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class Timer:
    """Accumulates seconds per stage name."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.s[name] = self.s.get(name, 0.0) + seconds


class TimedStore:
    """The real store, with the time spent in its write calls recorded."""

    def __init__(self, store: Any, timer: Timer) -> None:
        self._store = store
        self._timer = timer
        self.url_for_display = store.url_for_display

    def write_bolus(self, frame: pd.DataFrame) -> int:
        t0 = time.perf_counter()
        try:
            return self._store.write_bolus(frame)
        finally:
            self._timer.add("write", time.perf_counter() - t0)

    def write_climate(self, frame: pd.DataFrame) -> int:
        t0 = time.perf_counter()
        try:
            return self._store.write_climate(frame)
        finally:
            self._timer.add("write", time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def timed_writer(make_inner: Any, timer: Timer, reports: list[Any]) -> Any:
    """The loader's default writer, made on first use (after ``load`` wrote the herd DB rows: the
    default writers read the known animal/sensor ids once when they are made), timed."""
    inner: list[Any] = []

    def write(frame: pd.DataFrame, store: Any, engine: Any, now: pd.Timestamp) -> Any:
        t0 = time.perf_counter()
        if not inner:
            inner.append(make_inner())
        report = inner[0](frame, store, engine, now)
        timer.add("writer", time.perf_counter() - t0)
        reports.append(report)
        return report
    return write


def store_count(store: Any, name: str) -> int | None:
    """Bolus readings the store holds now (an independent check that nothing was dropped)."""
    try:
        if name == "influx":
            rows = [r for res in store._query('SELECT count("temp_c") FROM "bolus"') for s in res.get("series", [])
                    for r in s["values"]]
            return int(rows[0][1]) if rows else 0
        with store.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT COUNT(*) FROM bolus_readings").scalar_one())
    except Exception as exc:  # the count is a diagnostic, never a reason to lose the timings
        print(f"  (count failed: {exc})")
        return None


def run_backend(name: str, herd: Any, store: Any, herd_url: str, server_pid: int | None) -> dict[str, float]:
    upgrade_herd_db(herd_url)
    engine = make_engine(herd_url)
    store.ensure_schema()
    timer = Timer()
    reports: list[Any] = []
    real_store_rejections = iv.store_rejections

    def timed_rejections(*args: Any, **kwargs: Any) -> int:
        t0 = time.perf_counter()
        try:
            return real_store_rejections(*args, **kwargs)
        finally:
            timer.add("rejections", time.perf_counter() - t0)

    cfg = herd.config
    bolus_writer = timed_writer(
        lambda: loader.default_bolus_writer(engine, loader.batch_prefix(cfg, "bolus", cfg.start_ts)), timer, reports)
    climate_writer = timed_writer(
        lambda: loader.default_climate_writer(engine, loader.batch_prefix(cfg, "climate", cfg.start_ts)), timer,
        reports)
    chunk_rows = loader.CHUNK_ROWS if name == "influx" else loader.SQL_CHUNK_ROWS
    timed = TimedStore(store, timer)
    cpu0 = proc_cpu_s(server_pid) if server_pid else None
    iv.store_rejections = timed_rejections
    try:
        t0 = time.perf_counter()
        counts = loader.load(herd, engine, timed, chunk_rows=chunk_rows,  # type: ignore[arg-type]
                             bolus_writer=bolus_writer, climate_writer=climate_writer)
        total = time.perf_counter() - t0
    finally:
        iv.store_rejections = real_store_rejections
    server_cpu = proc_cpu_s(server_pid) - cpu0 if server_pid and cpu0 is not None else None

    sent = counts["bolus_readings_sent"] + counts["climate_readings_sent"]
    received = sum(r.n_received for r in reports)
    written = sum(r.n_written for r in reports)
    bolus_written = sum(r.n_written for r in reports if "-bolus-" in r.batch_id)
    rejected = sum(r.n_rejected for r in reports)
    readings_s = timer.s.get("writer", 0.0)
    herd_db_s = total - readings_s
    write_s = timer.s.get("write", 0.0)
    rej_s = timer.s.get("rejections", 0.0)
    validate_s = readings_s - write_s - rej_s
    held = store_count(store, name)
    print(
        f"{name:8s} herd DB+sort {herd_db_s:5.1f} s | validate {validate_s:5.1f} s | write {write_s:6.1f} s | "
        f"rejections {rej_s:4.1f} s | load total {total:6.1f} s = {sent / total:>9,.0f} rows/s | "
        f"batches {len(reports)} | peak RSS {peak_rss_mb():,.0f} MB"
        + (f" | influxd CPU {server_cpu:.1f} s" if server_cpu is not None else ""),
        flush=True,
    )
    print(f"{'':8s} sent {sent:,} = received {received:,} = written {written:,} + rejected {rejected:,} "
          f"({'ok' if received == sent == written + rejected else 'MISMATCH'}); store holds {held} bolus "
          f"readings of {bolus_written:,} bolus written (less = same key in two batches); {loadavg()}", flush=True)
    engine.dispose()
    store.close()
    return {"load_s": total, "write_s": write_s, "validate_s": validate_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 6, 1))
    parser.add_argument("--backends", default="influx,sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                        help="server for the postgres backend (a throw-away database is created on it)")
    parser.add_argument("--profile", help="write a cProfile of the loads to this file")
    args = parser.parse_args(argv)
    print(f"start: {args.animals} animals x {args.days} days, {os.cpu_count()} CPUs, {loadavg()}", flush=True)

    t0 = time.perf_counter()
    herd = simulate(SimConfig(n_animals=args.animals, days=args.days, seed=args.seed, start=args.start))
    sim_s = time.perf_counter() - t0
    n = len(herd.bolus) + len(herd.climate)
    print(f"simulate {sim_s:5.1f} s: {len(herd.bolus):,} bolus + {len(herd.climate):,} climate readings = "
          f"{n / sim_s:,.0f} rows/s | peak RSS {peak_rss_mb():,.0f} MB", flush=True)

    profiler = cProfile.Profile() if args.profile else None
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="smx_bench_sim_") as tmp_name:
        tmp = Path(tmp_name)
        for backend in args.backends.split(","):
            herd_url = f"sqlite:///{tmp / f'herd_{backend}.db'}"
            if profiler:
                profiler.enable()
            if backend not in BACKENDS:
                parser.error(f"unknown backend {backend!r}")
            with scratch_store(backend, tmp, args.pg_url) as (store, server_pid):
                results[backend] = run_backend(backend, herd, store, herd_url, server_pid)
            if profiler:
                profiler.disable()
    if profiler:
        profiler.dump_stats(args.profile)

    print(f"end: {loadavg()}")
    scale = (args.animals * args.days) / (1000 * 30)
    failed = [b for b, r in results.items() if r["load_s"] > LOAD_TARGET_S[b] * scale]
    for b, r in results.items():
        print(f"{b:8s} simulate + load {sim_s + r['load_s']:6.1f} s (target for load: "
              f"< {LOAD_TARGET_S[b] * scale:.1f} s at this size)")
    if failed:
        print(f"SLOWER THAN TARGET: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
