"""Helpers of the reliability suite: scoring runs, error texts, reading copies, table counts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smx_assets.defs.ingest.assets import SOURCE_SPECS
from smx_assets.defs.scoring.assets import scores
from smx_assets.domain.features.pipeline import LOOKBACK
from smx_assets.domain.features.profile import active_animals, load_herd_records
from smx_assets.domain.score_store import FULL_LINEAGE, ScoreFiles, ScoreStore
from smx_assets.domain.sensor_store.base import SensorStore
from smx_assets.domain.time_grid import BUCKET
from smx_assets_tests.scenario import Scenario

FMT = "%Y-%m-%d-%H:%M"
N_ANIMALS = 12
SECRET = "s3cr3t-Pa55w0rd"  # a password that must never show up anywhere


def smx_env(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an ``smx`` process with its own ``SMX_HOME`` (home/smx) and ``DAGSTER_HOME``
    (home): none of the test process's store settings leak in."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMX_", "MLFLOW_")) and k != "DAGSTER_HOME"}
    base.update({"SMX_HOME": str(home / "smx"), "DAGSTER_HOME": str(home), **(env or {})})
    return base


def smx(home: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real ``smx`` entry point in ``home`` (see :func:`smx_env`)."""
    return subprocess.run([sys.executable, "-m", "smx_assets.cli", *args], env=smx_env(home, env), cwd=home,
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MlflowServer:
    """A running ``mlflow server``: ``url`` (no credentials), its folder (backend DB, artifacts, log)."""

    url: str
    root: Path
    proc: subprocess.Popen

    def url_with(self, user: str, password: str) -> str:
        """The server's URL with credentials written in as people paste them (unencoded)."""
        return self.url.replace("http://", f"http://{user}:{password}@", 1)

    def log_tail(self, n: int = 40) -> str:
        path = self.root / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else "(no log)"


@dataclass
class World:
    sc: Scenario

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.sc.resources)

    @property
    def features(self) -> str:
        """The feature store's base path (the score store lives under it)."""
        return self.sc.resources["feature_store"].base_path

    def bucket(self, k: int) -> pd.Timestamp:
        """The k-th bucket after noon of the last featured day (tests use distinct k)."""
        return self.sc.day(3) + pd.Timedelta(hours=12) + k * BUCKET

    def expected_predictions(self, bucket: pd.Timestamp) -> int:
        records = load_herd_records(self.sc.herd_db.engine())
        return len(active_animals(records, bucket, bucket + BUCKET)) * 3  # three rule champions


def materialize_scores(resources: dict[str, Any], bucket: pd.Timestamp, *, instance: dg.DagsterInstance | None = None,
                       use_cases: list[str] | None = None) -> dg.ExecuteInProcessResult:
    config: dict[str, Any] = {"use_cases": use_cases} if use_cases else {}
    return dg.materialize(
        [scores, *SOURCE_SPECS], selection=[scores], resources=resources, partition_key=bucket.strftime(FMT),
        run_config={"ops": {"scores": {"config": config}}}, instance=instance, raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every message of the run's step failures, causes included (what the UI shows)."""
    texts = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            err = event.step_failure_data.error
            while err is not None:
                texts.append(err.to_string())
                err = err.cause
    return "\n".join(texts)


def predictions_of(engine: Engine, features_base: str, bucket: pd.Timestamp) -> pd.DataFrame:
    """The scores stored for ``bucket`` with their full lineage (one row per use case, role, animal),
    the lineage from the herd DB ``engine``."""
    store = ScoreStore(engine, ScoreFiles(features_base))
    return store.read(bucket, bucket + BUCKET, lineage=FULL_LINEAGE)


def alerts_of(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text("SELECT * FROM alerts"), conn)


def copy_scoring_window(src: SensorStore, dst: SensorStore, first: pd.Timestamp, last: pd.Timestamp) -> int:
    """Copy what scoring buckets ``first..last`` read (trailing window included) between stores."""
    start, end = first - LOOKBACK - BUCKET, last + BUCKET
    dst.ensure_schema()
    n = dst.write_bolus(src.read_bolus(start, end))
    dst.write_climate(src.read_climate(start, end))
    return n


class HoldingProxy:
    """A transparent HTTP forwarder in front of a real MLflow server that holds, once, the
    request ``hold(method, path, body)`` picks: never forwarded, never answered, so the client
    waits at a known point (and a test can kill it there). Every other request goes through.
    Why not watch the store for the moment: the window between two MLflow calls is milliseconds."""

    HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "te", "trailer", "upgrade",
                     "proxy-authorization", "proxy-connection", "content-length", "content-encoding"})

    def __init__(self, upstream: str, hold: Any) -> None:
        import http.server
        import threading

        import requests

        self.upstream, self.hold = upstream.rstrip("/"), hold
        self.held, self.release = threading.Event(), threading.Event()
        proxy, session = self, requests.Session()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    raise RuntimeError("HoldingProxy does not forward chunked request bodies")
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if not proxy.held.is_set() and proxy.hold(self.command, self.path, body):
                    proxy.held.set()
                    proxy.release.wait(900)
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HoldingProxy.HOP}
                r = session.request(self.command, proxy.upstream + self.path, headers=headers, data=body,
                                    allow_redirects=False, timeout=300)
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in HoldingProxy.HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
