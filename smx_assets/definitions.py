"""The code location: every Dagster object under ``defs/``, autoloaded, plus the shared resources.

The settings are checked first (:func:`smx_assets.settings.current`): a malformed or
out-of-range variable fails the load with one message naming it, its value and the allowed
range, instead of a sensor that silently stops requesting runs. Every log record of the
process (run workers, the daemon, ``dagster dev``) is masked from here on, as in the CLI.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from smx_assets import settings
from smx_assets.domain.heap import freeze_loaded_heap
from smx_assets.domain.redaction import install_log_redaction
from smx_assets.resources import default_resources

settings.current()
install_log_redaction()

defs = dg.Definitions.merge(
    dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
    dg.Definitions(resources=default_resources()),
)

# Everything loaded so far lives as long as the process: keep the garbage collector off it
# (see domain/heap.py; 0.2-0.3 s of every ten-minute run at 1,000 animals).
freeze_loaded_heap()
