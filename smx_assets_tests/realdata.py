"""Where the real BovHEAT exports are: ``../shared/data/bovheat`` beside the repository.

``SMX_BOVHEAT_DIR`` overrides it. A git worktree's ``..`` is not the main checkout's, so the
repository's common git folder is tried too. Tests that need the data fail (not skip) when it
is missing: the data ships with the project's shared folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bovheat_dir() -> Path:
    candidates = []
    if os.environ.get("SMX_BOVHEAT_DIR"):
        candidates.append(Path(os.environ["SMX_BOVHEAT_DIR"]))
    candidates.append(ROOT.parent / "shared" / "data" / "bovheat")
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        candidates.append(Path(common).parent.parent / "shared" / "data" / "bovheat")
    except (OSError, subprocess.SubprocessError):
        pass
    for c in candidates:
        if (c / "weekly").is_dir():
            return c
    raise FileNotFoundError(f"real BovHEAT data not found (tried {', '.join(map(str, candidates))}); "
                            "set SMX_BOVHEAT_DIR")
