"""The ``smx`` command line: simulate, import, demo, rollback, explain.

Each sub-command lives in its own module under ``smx_assets/commands/`` and registers itself
through ``add_parser(subparsers)``; this file only assembles them, so adding a command never
means editing someone else's code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from smx_assets import settings

# Modules under smx_assets.commands that expose add_parser(subparsers) -> None.
# Each parser sets ``func`` (callable taking the parsed args, returning an exit code).
COMMAND_MODULES = [
    "simulate",
    "migrate",
    "demo",
    "summary",
    "explain",
    "rollback",
    "importing",
    "alerts",
    "train",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smx", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"smx_assets.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings.current()  # every variable's type and range, before any command does work
    except settings.SettingsError as exc:
        print(f"smx: {exc}", file=sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
