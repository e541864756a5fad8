"""Environment-driven settings with embedded defaults.

One place decides what "no configuration" means, so the CLI, the Dagster resources and the
tests agree on where the embedded default keeps its files. Dagster resources read the same
variables through ``EnvVar``; this module is for code that runs outside Dagster.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def smx_home() -> Path:
    """The embedded default's data folder (``SMX_HOME``, default ``./.smx``), created on demand."""
    home = Path(os.environ.get("SMX_HOME", ".smx")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def default_herd_db_url(home: Path | None = None) -> str:
    return f"sqlite:///{(home or smx_home()) / 'herd.db'}"


def default_sensor_store_url(home: Path | None = None) -> str:
    return f"sqlite:///{(home or smx_home()) / 'sensors.db'}"


def default_mlflow_uri(home: Path | None = None) -> str:
    return f"sqlite:///{(home or smx_home()) / 'mlflow.db'}"


def default_features_path(home: Path | None = None) -> str:
    return str((home or smx_home()) / "features")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; ``from_env`` is the only constructor the code should need."""

    home: Path
    herd_db_url: str
    sensor_store_url: str
    mlflow_tracking_uri: str
    features_path: str

    @classmethod
    def from_env(cls) -> "Settings":
        home = smx_home()
        return cls(
            home=home,
            herd_db_url=os.environ.get("SMX_HERD_DB_URL") or default_herd_db_url(home),
            sensor_store_url=os.environ.get("SMX_SENSOR_STORE_URL") or default_sensor_store_url(home),
            mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or default_mlflow_uri(home),
            features_path=os.environ.get("SMX_FEATURES_PATH") or default_features_path(home),
        )


@lru_cache(maxsize=1)
def code_version() -> str:
    """Git sha of the working tree (with ``+dirty``), else the package version.

    Stored on every prediction and alert so any output can be traced to the code that made it.
    """
    env = os.environ.get("SMX_CODE_VERSION")
    if env:
        return env
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return f"{sha}+dirty" if dirty else sha
    except (OSError, subprocess.SubprocessError):
        from smx_assets import __version__

        return __version__
