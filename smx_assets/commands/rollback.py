"""``smx rollback USE_CASE [--to-version N]``: point a use case's ``champion`` alias back.

Moving an alias is all a rollback is: the next scoring run resolves ``champion`` afresh and
loads the restored version, so no redeploy is needed.
"""

from __future__ import annotations

import argparse
import time

from smx_assets.commands._args import UserError, int_in, setting_value, use_case_or_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollback", help="point a use case's champion alias back to an earlier version")
    p.add_argument("use_case", type=use_case_or_model,
                   help="use case name (heat, calving, fever) or a registered model name smx-...")
    p.add_argument("--to-version", type=int_in(1), default=None,
                   help="version to restore (default: the previous champion)")
    p.add_argument("--force", action="store_true",
                   help="restore a version that never completed registration and evaluation")
    p.add_argument("--tracking-uri", default=None, type=setting_value("MLFLOW_TRACKING_URI"),
                   help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or the embedded SQLite)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: MLflow takes ~1.5 s to import and other commands should not pay for it.
    from mlflow.exceptions import MlflowException

    from smx_assets.domain.model_registry import NoModelError, configure, rollback
    from smx_assets.domain.run_hygiene import UnreadyVersionError
    from smx_assets.domain.use_cases.base import model_name_for

    name = args.use_case if args.use_case.startswith("smx-") else model_name_for(args.use_case)
    t0 = time.perf_counter()
    client = configure(args.tracking_uri)
    try:
        result = rollback(name, args.to_version, client=client, force=args.force)
    except (NoModelError, UnreadyVersionError, MlflowException) as exc:  # a message, not a trace
        raise UserError(f"rollback failed: {getattr(exc, 'message', None) or exc}") from exc
    print(f"{name}: champion v{result.old_version or '-'} -> v{result.new_version} "
          f"({time.perf_counter() - t0:.2f} s); the next scoring run loads v{result.new_version}")
    return 0
