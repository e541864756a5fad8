"""Where the real BovHEAT exports are: ``smx_assets_tests/data/bovheat`` in the repository.

They ship with the repository (MIT, see the folder's ``README.md`` and ``LICENSE.txt``) so that a
bare clone passes ``make test``. ``SMX_BOVHEAT_DIR`` points at another copy; there is no silent
fallback to a folder outside the repository, so a test reads exactly the files the clone holds.
Tests that need the data fail (not skip) when it is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IN_REPO = ROOT / "smx_assets_tests" / "data" / "bovheat"


def bovheat_dir() -> Path:
    """The folder holding ``weekly/``, ``fifty_days/`` and ``bad_input/``."""
    env = os.environ.get("SMX_BOVHEAT_DIR")
    where = Path(env) if env else IN_REPO
    if not (where / "weekly").is_dir():
        source = "SMX_BOVHEAT_DIR" if env else "the repository"
        raise FileNotFoundError(f"real BovHEAT data not found: no weekly/ in {where} (from {source})")
    return where
