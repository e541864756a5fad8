"""What ``make ui`` starts and where: ``python -m smx_assets.devtools.ui_addresses``.

Prints one line of shell words, ``TRACKING_URI MLFLOW_HOST MLFLOW_PORT SMX_HOME DAGSTER_HOST
DAGSTER_PORT``, from the settings (``SMX_MLFLOW_UI_URL``, ``SMX_DAGSTER_UI_URL``), so the
Makefile holds no host or port of its own. A setting ``make ui`` cannot serve (an MLflow UI
given as a path behind a reverse proxy) is one line on standard error and exit status 2.
"""

from __future__ import annotations

import shlex
import sys
from urllib.parse import urlsplit

from smx_assets.settings import Settings, SettingsError

DEFAULT_PORTS = {"http": 80, "https": 443}


def host_port(url: str) -> tuple[str, int]:
    """``(host, port)`` of an http(s) URL, the scheme's port when it names none."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[parts.scheme]


def addresses(settings: Settings) -> list[str]:
    if not settings.mlflow_ui_url.startswith(("http://", "https://")):
        raise ValueError(f"SMX_MLFLOW_UI_URL={settings.mlflow_ui_url} is a path behind a reverse proxy; "
                         "make ui starts the MLflow UI on its own port: set an http(s) URL (e.g. http://127.0.0.1:5000)")
    m_host, m_port = host_port(settings.mlflow_ui_url)
    d_host, d_port = host_port(settings.dagster_ui_url)
    return [settings.mlflow_tracking_uri, m_host, str(m_port), str(settings.home), d_host, str(d_port)]


def main() -> int:
    try:
        words = addresses(Settings.from_env(create_home=False))
    except (SettingsError, ValueError) as exc:
        print(f"make ui: {exc}", file=sys.stderr)
        return 2
    print(" ".join(shlex.quote(w) for w in words))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
