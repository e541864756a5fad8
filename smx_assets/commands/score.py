"""``smx score --from DATE --to DATE``: retro-score any day range in one Dagster run.

The documented path to history older than the ten-minute partition window
(``SMX_SCORES_WINDOW_DAYS``): imports of old exports, long simulations, "what would the new
champion have alerted". One run of ``retro_scoring_job`` on the instance in ``DAGSTER_HOME``
(visible in the UI afterwards): the baselines of the range are computed first, then each day
is scored with the same function as the ten-minute runs. Progress goes to standard error, a
short summary at the end.

Python callers (other commands, notebooks) use :func:`score_range`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from smx_assets.commands._args import BadArgument, iso_day, ordered_days, use_case_name

log = logging.getLogger("smx.score")
JOB = "retro_scoring_job"


class ScoreError(RuntimeError):
    """The run could not be started or failed (one-line message)."""


@dataclass
class ScoreSummary:
    run_id: str
    first_day: str
    last_day: str
    scored_until: str
    days_scored: int
    buckets_scored: int
    animals_scored: int
    predictions_written: int
    alerts_new: dict[str, int]
    alerts_candidates: dict[str, int]
    baselines_computed_days: int
    rule_fallback_use_cases: list[str]
    seconds: float


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="retro-score a day range of any date (one run, baselines first)")
    p.add_argument("--from", dest="first_day", required=True, type=iso_day, help="first UTC day, YYYY-MM-DD")
    p.add_argument("--to", dest="last_day", required=True, type=iso_day, help="last UTC day, YYYY-MM-DD (inclusive)")
    p.add_argument("--use-case", action="append", default=[], dest="use_cases", type=use_case_name,
                   help="only this use case (repeatable; default: all)")
    p.add_argument("--dry-run", action="store_true", help="write predictions but no alerts (counts candidates)")
    p.add_argument("--recompute-baselines", action="store_true",
                   help="recompute stored baselines of the range (after re-imported readings)")
    p.set_defaults(func=run, check=check)


def check(args: argparse.Namespace) -> None:
    """The range's order and reach, before any work (one line, exit 2): what argparse cannot
    see in one argument. Days before 2000 and malformed ones were refused by :func:`iso_day`."""
    import pandas as pd

    from smx_assets.domain.scoring.retro import RetroRangeError, plan_range

    ordered_days(args.first_day, args.last_day)
    try:
        plan_range(args.first_day, args.last_day, pd.Timestamp.now(tz="UTC"))
    except RetroRangeError as exc:
        raise BadArgument(str(exc)) from None


def score_range(first_day: str | dt.date, last_day: str | dt.date, *, use_cases: list[str] | None = None,
                write_alerts: bool = True, recompute_baselines: bool = False, instance: Any = None,
                resources: dict[str, Any] | None = None, verbose: bool = False,
                argv: list[str] | None = None) -> ScoreSummary:
    """Run ``retro_scoring_job`` over ``first_day..last_day`` (UTC, inclusive) in this process.

    ``instance``: a ``DagsterInstance`` (default: the one in ``DAGSTER_HOME``); ``resources``:
    replacements for the code location's resources (tests). Raises :class:`ScoreError` with a
    one-line message when the range cannot be scored, a use case is not in the catalog, or the
    run fails (:func:`~smx_assets.commands.console.run_failure_line`; ``argv`` is the command
    line it names for the full log). Dagster's event stream reaches the terminal only with
    ``verbose``.
    """
    from smx_assets.commands import console
    from smx_assets.commands.demo import _dagster_home, dagster_instance
    from smx_assets.domain.scoring.retro import RetroRangeError, plan_range
    from smx_assets.domain.use_cases.catalog import all_use_cases

    try:
        import pandas as pd

        plan_range(first_day, last_day, pd.Timestamp.now(tz="UTC"))
    except RetroRangeError as exc:
        raise ScoreError(str(exc)) from None
    known = sorted(uc.name for uc in all_use_cases())
    unknown = [u for u in (use_cases or []) if u not in known]
    if unknown:  # before a run is started (it failed with a stack trace)
        raise ScoreError(f"unknown use case {unknown[0]!r}: use one of {', '.join(known)}")
    _dagster_home()
    from smx_assets.defs.scoring.jobs import retro_scoring_job
    from smx_assets.resources import default_resources
    from smx_assets.run_health import worker_tag

    config = {"first_day": str(first_day), "last_day": str(last_day), "write_alerts": write_alerts,
              "use_cases": list(use_cases or []), "recompute_baselines": recompute_baselines}
    # unbound: the job runs with the resources below
    job, run_config = console.for_terminal(retro_scoring_job, verbose, {"ops": {"retro_score_range": {"config": config}}})
    t0 = time.perf_counter()
    result = job.execute_in_process(
        instance=instance or dagster_instance(),
        run_config=run_config,
        raise_on_error=False,
        resources={**default_resources(), **(resources or {})},
        tags=worker_tag(),  # a killed `smx score` is then recognised and failed by the next command
    )
    if not result.success:
        raise ScoreError(console.run_failure_line(result, argv))
    out = result.output_for_node("retro_score_range")
    return ScoreSummary(
        run_id=result.run_id, first_day=out["first_day"], last_day=out["last_day"],
        scored_until=out["scored_until"], days_scored=out["days_scored"], buckets_scored=out["buckets_scored"],
        animals_scored=out["animals_scored"], predictions_written=out["predictions_written"],
        alerts_new=out["alerts_new"], alerts_candidates=out["alerts_candidates"],
        baselines_computed_days=out["baselines_computed_days"],
        rule_fallback_use_cases=out["rule_fallback_use_cases"], seconds=round(time.perf_counter() - t0, 1),
    )


def run(args: argparse.Namespace) -> int:
    print(f"smx score: retro-scoring {args.first_day} .. {args.last_day} (one run) ...", file=sys.stderr, flush=True)
    try:
        s = score_range(args.first_day, args.last_day, use_cases=args.use_cases, write_alerts=not args.dry_run,
                        recompute_baselines=args.recompute_baselines, verbose=bool(getattr(args, "verbose", False)),
                        argv=getattr(args, "argv", None))
    except ScoreError as exc:
        print(f"smx score: {exc}", file=sys.stderr)
        return 1
    alerts = s.alerts_candidates if args.dry_run else s.alerts_new
    what = "alert candidates (dry run, none written)" if args.dry_run else "new alerts"
    per_uc = ", ".join(f"{k} {v}" for k, v in sorted(alerts.items())) or "none"
    print(f"smx score: {s.first_day} .. {s.last_day} scored in {s.seconds:.0f} s (run {s.run_id}): "
          f"{s.days_scored} days, {s.buckets_scored} buckets, up to {s.animals_scored} animals, "
          f"{s.predictions_written} predictions, {sum(alerts.values())} {what} ({per_uc}); "
          f"baselines computed for {s.baselines_computed_days} day(s)", file=sys.stderr)
    if s.rule_fallback_use_cases:
        print(f"smx score: no champion registered for {', '.join(s.rule_fallback_use_cases)}: scored with the "
              "rule baseline (train and promote a model with `smx train` / the training job)", file=sys.stderr)
    return 0
