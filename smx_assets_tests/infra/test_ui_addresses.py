"""Where the UIs are comes from the settings: `make ui` serves Dagster on SMX_DAGSTER_UI_URL's
host and port and MLflow on SMX_MLFLOW_UI_URL's; an MLflow UI given as a path makes relative
links (opened on whatever host serves the Dagster UI behind one proxy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smx_assets.domain.model_registry.links import artifact_url, model_version_url, run_url
from smx_assets.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def _addresses(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_"))}
    return subprocess.run([sys.executable, "-m", "smx_assets.devtools.ui_addresses"], cwd=tmp_path,
                          env={**base, "SMX_HOME": str(tmp_path / "home"), **env},
                          capture_output=True, text=True, timeout=120)


def test_make_ui_takes_both_hosts_and_ports_from_the_settings(tmp_path: Path) -> None:
    p = _addresses(tmp_path, SMX_DAGSTER_UI_URL="http://0.0.0.0:3456", SMX_MLFLOW_UI_URL="http://10.1.2.3:5555/")
    assert p.returncode == 0, p.stderr
    tracking, m_host, m_port, home, d_host, d_port = p.stdout.split()
    assert (m_host, m_port, d_host, d_port) == ("10.1.2.3", "5555", "0.0.0.0", "3456")
    assert tracking == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}" and home == str(tmp_path / "home")
    assert not (tmp_path / "home").exists()  # it only reads the settings
    default = _addresses(tmp_path).stdout.split()
    assert default[1:3] == ["127.0.0.1", "5000"] and default[4:] == ["127.0.0.1", "3000"]
    # the Makefile starts both from these words and names no host or port of its own
    ui = (ROOT / "Makefile").read_text().split("\nui:", 1)[1].split("\n\n", 1)[0]
    assert "smx_assets.devtools.ui_addresses" in ui and "3000" not in ui and "5000" not in ui
    assert 'dagster dev -h "$$5" -p "$$6"' in ui


def test_a_path_mlflow_ui_makes_relative_links_and_make_ui_refuses_it_in_one_line(tmp_path: Path) -> None:
    s = Settings.from_env({"SMX_HOME": str(tmp_path), "SMX_MLFLOW_UI_URL": "/mlflow/"}, create_home=False)
    assert s.mlflow_ui_url == "/mlflow"
    assert model_version_url(s.mlflow_ui_url, "smx-heat", 3) == "/mlflow/#/models/smx-heat/versions/3"
    assert run_url(s.mlflow_ui_url, "abc", "1") == "/mlflow/#/experiments/1/runs/abc"
    assert artifact_url(s.mlflow_ui_url, "1", "abc", "r.html").startswith("/mlflow/#/experiments/1/runs/abc/")
    p = _addresses(tmp_path, SMX_MLFLOW_UI_URL="/mlflow")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and "reverse proxy" in p.stderr
    for bad in ("ftp://x", "//host/x", "mlflow"):
        with pytest.raises(SettingsError, match="SMX_MLFLOW_UI_URL"):
            Settings.from_env({"SMX_HOME": str(tmp_path), "SMX_MLFLOW_UI_URL": bad}, create_home=False)
    with pytest.raises(SettingsError, match="SMX_DAGSTER_UI_URL"):
        Settings.from_env({"SMX_HOME": str(tmp_path), "SMX_DAGSTER_UI_URL": "localhost:3000"}, create_home=False)
