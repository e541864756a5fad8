"""The Dagster layer: one sub-package per domain (ingest, features, training, scoring,
monitoring), each exposing ``defs: dagster.Definitions`` with its assets, checks, jobs,
schedules and sensors. Kept thin: the work happens in ``smx_assets.domain``."""

import warnings

import dagster as dg

# Single-run backfills (``BackfillPolicy.single_run``) are what make a 60-day backfill or a
# retro-scoring range one run; the parameter is still marked beta in the pinned Dagster and
# warned once per asset in every process (8 lines before any output). Only that warning is
# silenced: other beta/preview warnings still show.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=r"Parameter `backfill_policy`")
