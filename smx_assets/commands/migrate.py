"""``smx migrate``: create or upgrade the herd database schema."""

from __future__ import annotations

import argparse

from smx_assets.domain.herd_db_migrate import upgrade_herd_db
from smx_assets.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create or upgrade the herd DB schema (Alembic)")
    p.add_argument("--url", help="SQLAlchemy URL (default: SMX_HERD_DB_URL or the embedded SQLite)")
    p.add_argument("--revision", default="head")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    url = args.url or Settings.from_env().herd_db_url
    upgrade_herd_db(url, args.revision)
    print(f"herd DB at {args.revision}")
    return 0
