"""The Dagster layer: one folder per domain (ingest, features, training, scoring, monitoring,
ops_health, simulation), each of the same shape: ``assets.py``, ``checks.py``, ``jobs.py``,
``schedules.py``, ``sensors.py`` (a module only when it has something to hold). Nothing lists
the objects by hand: ``smx_assets.definitions`` loads every module-level Dagster object found
here (``dg.load_from_defs_folder``). Kept thin: the work happens in ``smx_assets.domain``."""

import warnings

import dagster as dg

# Single-run backfills (``BackfillPolicy.single_run``) are what make a 60-day backfill or a
# retro-scoring range one run; the parameter is still marked beta in the pinned Dagster and
# warned once per asset in every process (8 lines before any output). Only that warning is
# silenced: other beta/preview warnings still show.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=r"Parameter `backfill_policy`")
# The defs-folder loader (definitions.py) calls Dagster's own preview helpers
# load_definitions_from_module(s) internally and warns about them on every load: silenced, the
# loader itself is not a preview API.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=r"Function `load_definitions_from_module")


def load_domain(*folders: str) -> dg.Definitions:
    """The objects of some domain folders only (``load_domain("features", "training")``), loaded
    by the same defs-folder loader as the whole code location; tests materialise one domain
    against resources of their own with it."""
    from pathlib import Path

    tree = dg.ComponentTree.for_project(Path(__file__).parent)
    return dg.Definitions.merge(*(tree.build_defs(Path(name)) for name in folders))
