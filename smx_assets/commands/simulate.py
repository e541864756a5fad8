"""``smx simulate``: load a simulated herd (batch) or append the next 10 minutes (``--live``).

Batch: ``smx simulate --animals N --days D --seed S [--start DATE]`` writes the herd's records
into the herd DB (``SMX_HERD_DB_URL``) and its readings, through ingestion validation, into the
sensor store (``SMX_SENSOR_STORE_URL``), then remembers the herd in ``simulation_state``.
The default start is ``days`` before today (UTC), so the data ends now and live mode follows on.

Live: ``smx simulate --live [--steps K]`` delivers the next K x 10 minutes of that herd.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

from smx_assets.commands._args import BadArgument, int_in, iso_day, setting_value
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.domain.sensor_store.factory import mask_url, open_sensor_store
from smx_assets.domain.simulator import SimConfig, simulate
from smx_assets.domain.simulator.live import live_step, save_state
from smx_assets.domain.simulator.loader import CHUNK_ROWS, SQL_CHUNK_ROWS, load
from smx_assets.domain.sql_engine import make_engine
from smx_assets.settings import Settings

log = logging.getLogger(__name__)
MAX_ANIMALS = 20_000
MAX_DAYS = 3_650
MAX_STEPS = 6 * 24 * 30  # a month of 10-minute steps


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a herd into the herd DB and sensor store (or --live)")
    p.add_argument("--animals", type=int_in(1, MAX_ANIMALS), default=100)
    p.add_argument("--days", type=int_in(1, MAX_DAYS), default=30)
    p.add_argument("--seed", type=int_in(0), default=0)
    p.add_argument("--start", type=iso_day,
                   help="first day (YYYY-MM-DD, UTC, today at the latest); default: days before today. Readings "
                        "after the wall clock are rejected as 'future' by ingest validation")
    p.add_argument("--farms", type=int_in(1, 100), default=2)
    p.add_argument("--live", action="store_true", help="append the next 10 minutes of the loaded herd")
    p.add_argument("--steps", type=int_in(1, MAX_STEPS), default=1,
                   help=f"with --live: how many 10-minute steps (1 to {MAX_STEPS})")
    p.add_argument("--herd-db-url", type=setting_value("SMX_HERD_DB_URL"), help="default: SMX_HERD_DB_URL or the embedded SQLite")
    p.add_argument("--sensor-store-url", type=setting_value("SMX_SENSOR_STORE_URL"),
                   help="default: SMX_SENSOR_STORE_URL or the embedded SQLite")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.farms > args.animals:
        raise BadArgument(f"--farms {args.farms} is more than --animals {args.animals}: every farm needs a cow")
    today = dt.datetime.now(dt.timezone.utc).date()
    if args.start and args.start > today and not args.live:
        # Every reading would be rejected as 'future' (judged by the wall clock): refuse before the work.
        raise BadArgument(f"--start {args.start} is after today ({today} UTC): readings from the future are rejected; "
                        "use today or an earlier day")
    settings = Settings.from_env()
    herd_url = args.herd_db_url or settings.herd_db_url
    store_url = args.sensor_store_url or settings.sensor_store_url
    upgrade_herd_db(herd_url)
    engine = make_engine(herd_url, connect_timeout_s=settings.database.connect_timeout_s)
    store = open_sensor_store(store_url, connect_timeout_s=settings.database.connect_timeout_s,
                              serialize_workers=settings.workers.influx_serialize_workers)
    try:
        store.ensure_schema()
        if args.live:
            out = live_step(engine, store, steps=args.steps)
            print(f"live: {out['since']} -> {out['until']}: {out['bolus']} bolus readings "
                  f"({out['late_bolus']} late), {out['climate']} climate readings")
            return 0
        start = args.start or (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=args.days))
        config = SimConfig(n_animals=args.animals, days=args.days, seed=args.seed, start=start, n_farms=args.farms)
        t0 = time.monotonic()
        herd = simulate(config)
        t_sim = time.monotonic() - t0
        influx = store_url.split(":", 1)[0].lower().startswith("influxdb")
        counts = load(herd, engine, store, chunk_rows=CHUNK_ROWS if influx else SQL_CHUNK_ROWS)
        save_state(engine, config, config.end_ts)
        from smx_assets.settings import record_data_start

        record_data_start(start, settings.home)  # daily partitions start here at the next load
        print(f"simulated {args.animals} animals x {args.days} days from {start} (seed {args.seed}) in "
              f"{t_sim:.1f} s, loaded in {time.monotonic() - t0 - t_sim:.1f} s into "
              f"{mask_url(store_url)}: {counts}")
        return 0
    finally:
        store.close()
        engine.dispose()
