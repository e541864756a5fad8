"""``smx migrate``: create or upgrade the herd database schema."""

from __future__ import annotations

import argparse

from smx_assets.commands._args import setting_value
from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the herd DB schema (Alembic)")
    p.add_argument("--url", type=setting_value("SMX_HERD_DB_URL"),
                   help="SQLAlchemy URL (default: SMX_HERD_DB_URL or the embedded SQLite)")
    p.add_argument("--revision", default="head")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    s = Settings.from_env()
    url = args.url or s.herd_db_url
    for line in upgrade_herd_db(url, args.revision, features_path=s.features_path):
        print(line)  # an earlier predictions table moved into the score store, counted
    print(f"herd DB at {args.revision}")
    if args.url is None and s.sensor_store_url.startswith(("influxdb://", "influxdbs://")):
        # InfluxDB keeps readings by its retention policy: set it at start-up (see domain/retention.py)
        import pandas as pd

        from smx_assets.domain.retention import cutoff_day
        from smx_assets.domain.sensor_store.factory import open_sensor_store

        store = open_sensor_store(s.sensor_store_url, connect_timeout_s=s.database.connect_timeout_s)
        try:
            store.ensure_schema()
            days = s.retention.readings_days
            info = store.enforce_retention(days, pd.Timestamp(cutoff_day(pd.Timestamp.now(tz="UTC"), days), tz="UTC"))
        finally:
            store.close()
        print(f"sensor store: retention policy {info['retention_policy']} keeps {info['duration']}")
    return 0
