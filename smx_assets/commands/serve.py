"""``smx serve [--host 127.0.0.1] [--port 8000] [--workers N]``: the HTTP API (``smx_assets/api``).

uvicorn runs the FastAPI application; ``--workers`` processes share the port (each opens its own
stores). OpenAPI at ``/docs``. Without ``SMX_API_TOKEN`` the server listens on loopback only.
"""

from __future__ import annotations

import argparse
import logging
import sys

from smx_assets.commands._args import int_in
from smx_assets.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the HTTP API: alerts, score histories, on-demand scoring, feedback")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any other "
                   "needs SMX_API_TOKEN)")
    p.add_argument("--port", type=int_in(1, 65535), default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int_in(1, 64), default=1, help="worker processes (default 1)")
    p.set_defaults(func=run)


def log_config(verbose: bool = False) -> dict:
    """uvicorn's logging: our access line (smx.api.access) instead of uvicorn's, one format."""
    level = "DEBUG" if verbose else "INFO"
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                    "uvicorn.error": {"level": "INFO"},
                    "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
                    "smx": {"handlers": ["stderr"], "level": level, "propagate": False}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from smx_assets.api.security import ListenRefused, check_listen

    settings = Settings.from_env(create_home=False)
    try:
        check_listen(args.host, settings.api.token)
    except ListenRefused as exc:
        print(f"smx serve: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("smx.serve").info("smx serve on http://%s:%d (%d worker%s)", args.host, args.port,
                                        args.workers, "s" if args.workers > 1 else "")
    uvicorn.run("smx_assets.api.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, access_log=False, log_config=log_config(getattr(args, "verbose", False)),
                server_header=False)
    return 0
