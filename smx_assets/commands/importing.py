"""``smx import PATH... [--farm NAME] [--timezone TZ]``: bring real sensor exports in.

Files or folders (a folder's supported files, not recursive): SCR Heatime ``.xlsx``/``.xls``
(English or German headers) and the open long format (``.csv``/``.txt``/``.tsv``/``.parquet``,
see ``smx_assets/domain/importers/formats.py`` and the README's "Bring your own data").
One line per file on standard error (rows read, written, rejected per reason, or why the file
could not be imported), then a summary; ``--json`` prints the whole report on standard output,
always: a file that failed is in it with its reason, and when nothing could be imported at all
(unknown time zone, stores that cannot be opened) it is ``{"ok": false, "error": ...}``. Only
regular files are read (a device or FIFO is refused in one line, ``not_a_file``).
Readings older than the sensor store's retention window (``SMX_RETENTION_READINGS_DAYS``) are
rejected as ``beyond_retention`` with a one-line warning naming the setting (see
``importers.service``). Exit status 1 when any file could not be imported (the others are imported all the same),
2 for a usage error (unknown time zone).
"""

from __future__ import annotations

import argparse
import json
import sys
import zoneinfo
from typing import Any

from smx_assets.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import sensor exports (SCR Heatime xlsx/xls, open CSV/Parquet format)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="export files or folders")
    p.add_argument("--farm", help="farm name (default: each file's folder name)")
    p.add_argument("--timezone", default="UTC", help="time zone of naive times in the files (default UTC)")
    p.add_argument("--json", action="store_true", help="print the import report as JSON on standard output")
    p.set_defaults(func=run)


def _print_json(report: dict[str, Any]) -> None:
    print(json.dumps(report, indent=2))


def _failed_report(error: str) -> dict[str, Any]:
    """The ``--json`` report when no file could be looked at (bad time zone, a store that is down)."""
    return {"ok": False, "error": error, "warnings": [], "rows_read": 0, "rows_written": 0, "rows_rejected": 0,
            "rejected_by_reason": {}, "files": []}


def _error_text(exc: Exception) -> str:
    from smx_assets.domain.redaction import error_line

    return error_line(exc, limit=300)


def run(args: argparse.Namespace) -> int:
    try:
        zoneinfo.ZoneInfo(args.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {args.timezone!r} (use an IANA name such as Europe/Berlin)"
        print(f"smx import: {message}", file=sys.stderr)
        if args.json:
            _print_json(_failed_report(message))
        return 2
    try:
        report, warnings = _import(args)
    except Exception as exc:
        # no file could be looked at (the stores cannot be opened, or a store went away):
        # --json still prints a report saying so; the CLI words the error line and exits 1
        if args.json:
            _print_json(_failed_report(_error_text(exc)))
        raise
    for warning in warnings + report.warnings():
        print(f"smx import: warning: {warning}", file=sys.stderr)
    print(f"smx import: {report.summary()}", file=sys.stderr)
    if args.json:
        _print_json(report.to_dict())
    return 0 if report.ok else 1


def _import(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """(the import report, warnings of the command itself)."""
    from smx_assets.domain.herd_db_migrate import upgrade_herd_db
    from smx_assets.domain.importers import import_paths
    from smx_assets.domain.sensor_store.factory import open_sensor_store
    from smx_assets.domain.sql_engine import make_engine

    settings = Settings.from_env()
    engine = make_engine(settings.herd_db_url)
    warnings: list[str] = []
    try:
        upgrade_herd_db(engine)
        store = open_sensor_store(settings.sensor_store_url)
        try:
            store.ensure_schema()
            report = import_paths(args.paths, args.farm, args.timezone, store=store, engine=engine,
                                  progress=lambda line: print(line, file=sys.stderr, flush=True),
                                  readings_retention_days=settings.retention.readings_days)
            try:
                span = store.reading_span()
                if span is not None:  # the daily partitions start at the first reading (next code-location load)
                    from smx_assets.settings import record_data_start

                    record_data_start(span[0].date(), settings.home)
            except Exception as exc:  # noqa: BLE001 - the import is done: its report must still be printed
                warnings.append(f"the first reading's day was not recorded ({_error_text(exc)})")
        finally:
            store.close()
    finally:
        engine.dispose()
    return report, warnings
