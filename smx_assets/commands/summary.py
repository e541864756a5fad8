"""``smx summary``: what the platform holds now (alerts, champions, rejections)."""

from __future__ import annotations

import argparse

import pandas as pd
import sqlalchemy as sa

from smx_assets.commands._args import require_data, utc_time
from smx_assets.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="alerts per use case, champion versions, rejected readings")
    p.add_argument("--since", type=utc_time,
                   help="only alerts from this time on: YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC (default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(create_home=False)
    require_data(settings.herd_db_url)
    print_summary(settings, args.since)
    return 0


def _why(uc) -> str:  # type: ignore[no-untyped-def]
    """``: <reason>`` when the last training kept the rule baseline for lack of data."""
    from smx_assets.domain import model_registry

    try:
        tags = model_registry.configure().get_registered_model(uc.rule_model_name).tags or {}
    except Exception:  # noqa: BLE001 - no rule model registered yet: nothing to say
        return ""
    reason = tags.get("smx.not_trained_reason")
    return f": {reason}" if reason else ""


def print_summary(settings: Settings, since: pd.Timestamp | None = None) -> None:
    from smx_assets.domain import model_registry
    from smx_assets.domain.herd_db import to_db_ts
    from smx_assets.domain.score_store import ScoreFiles, ScoreStore
    from smx_assets.domain.sql_engine import make_engine
    from smx_assets.domain.use_cases.catalog import all_use_cases

    engine = make_engine(settings.herd_db_url, connect_timeout_s=settings.database.connect_timeout_s)
    try:
        with engine.connect() as conn:
            where = "WHERE bucket_start >= :since" if since is not None else ""
            params = {"since": to_db_ts(since)} if since is not None else {}
            alerts = dict(conn.execute(sa.text(
                f"SELECT use_case, COUNT(*) FROM alerts {where} GROUP BY use_case"), params).all())
            animals = conn.execute(sa.text("SELECT COUNT(*) FROM animals")).scalar_one()
            rejected = dict(conn.execute(sa.text(
                "SELECT reason, COUNT(*) FROM rejected_readings GROUP BY reason")).all())
        scores = ScoreStore(engine, ScoreFiles(settings.features_path))
        first = scores.files.days()
        start = since if since is not None else (first[0] if first else pd.Timestamp.now(tz="UTC"))
        preds = scores.count(start, pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1))
    finally:
        engine.dispose()
    model_registry.configure(settings.mlflow_tracking_uri)
    print("\n== summary ==")
    print(f"herd: {animals} animals; stored scores{' since ' + str(since) if since is not None else ''}: {preds}")
    print(f"rejected readings by reason: {rejected or 'none'}")
    for uc in all_use_cases():
        champ = model_registry.get_alias_version(uc.model_name, model_registry.CHAMPION)
        chall = model_registry.get_alias_version(uc.model_name, model_registry.CHALLENGER)
        champ_s = f"{uc.model_name} v{champ.version}" if champ else f"none (rule baseline {uc.rule_model_name} scores{_why(uc)})"
        chall_s = f"v{chall.version}" if chall else "none"
        print(f"  {uc.name:8s} alerts: {alerts.get(uc.name, 0):5d}   champion: {champ_s}   challenger: {chall_s}")
