"""Start a throw-away, real InfluxDB 1.x server for tests, benchmarks and local development.

No InfluxDB 2.x/3.x server can be installed on the project's machines, but Debian's
``influxdb`` package (1.6.7) is a real server that speaks the v1-compatible HTTP API the
platform uses. Its package script does not start it here, so this module:

* installs the package with apt when ``influxd`` is missing (we run as root on CI machines);
* writes a config whose data, meta and wal dirs live under a given folder, with HTTP and the
  backup/RPC ``bind-address`` both on free *loopback* ports (a second instance must not
  collide with the first; nothing must listen on public interfaces), and usage reporting off;
* runs ``influxd run -config FILE`` in its own session and waits for ``/ping``;
* stops exactly the process it started, by pid (never by name: other sessions may run theirs).

Command line (used by ``infra/local``; runs in the foreground until interrupted)::

    python -m smx_assets.devtools.influx_server --dir .smx/influxdb [--port 8086] [--auth]
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "smx"
_apt_lock = threading.Lock()


class InfluxServerError(RuntimeError):
    """The server could not be installed or did not come up; the message carries the log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_influxd() -> str:
    """Path of ``influxd``, installing Debian's ``influxdb`` package first if it is missing."""
    found = shutil.which("influxd")
    if found:
        return found
    with _apt_lock:
        found = shutil.which("influxd")
        if found:
            return found
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "influxdb"]):
            log.info("running %s", " ".join(cmd))
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise InfluxServerError(
                    f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}"
                )
    found = shutil.which("influxd")
    if not found:
        raise InfluxServerError("apt-get install influxdb succeeded but influxd is not on PATH")
    return found


def render_config(base_dir: Path, http_port: int, rpc_port: int, *, auth: bool,
                  retention_check_interval: str = "30m") -> str:
    """An influxd 1.x config keeping everything under ``base_dir`` and on loopback.

    Logging of every query/write is off: the test suite and benchmarks issue thousands of
    requests and the log would only slow the server down and bury real errors.
    """
    return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{base_dir / 'meta'}"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{base_dir / 'data'}"
  wal-dir = "{base_dir / 'wal'}"
  index-version = "inmem"
  query-log-enabled = false
  # One series per animal: the default (100,000 values per tag) refuses the 100,001st animal's
  # readings as a partial write. Same setting as infra/influxdb/influxdb.conf.
  max-values-per-tag = 0
  wal-fsync-delay = "0s"

[retention]
  enabled = true
  check-interval = "{retention_check_interval}"

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {str(auth).lower()}
  log-enabled = false
  pprof-enabled = false
  max-body-size = 25000000
"""


@dataclass
class InfluxServer:
    """A running ``influxd`` owned by this process; ``stop()`` ends it."""

    base_dir: Path
    http_port: int
    rpc_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    database: str = DEFAULT_DATABASE
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        base_dir: Path,
        *,
        auth: bool = False,
        port: int | None = None,
        database: str = DEFAULT_DATABASE,
        timeout_s: float = 30.0,
        retention_check_interval: str = "30m",
    ) -> InfluxServer:
        """Install if needed, configure under ``base_dir`` and start; returns once /ping answers.

        With ``auth=True`` the server requires credentials and an admin user (random
        password, available as ``.password`` and inside ``.url``) is created.
        """
        influxd = ensure_influxd()
        base_dir = Path(base_dir).resolve()
        base_dir.mkdir(parents=True, exist_ok=True)
        http_port = port or free_port()
        rpc_port = free_port()
        while rpc_port == http_port:
            rpc_port = free_port()
        config = base_dir / "influxdb.conf"
        config.write_text(render_config(base_dir, http_port, rpc_port, auth=auth,
                                        retention_check_interval=retention_check_interval))
        log_path = base_dir / "influxd.log"
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [influxd, "run", "-config", str(config)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # our signals (Ctrl-C in pytest) must not reach it
            )
        server = cls(base_dir, http_port, rpc_port, process, log_path, database)
        try:
            server._wait_for_ping(timeout_s)
            if auth:
                server._create_admin()
        except BaseException:
            server.stop()
            raise
        log.info("influxd pid %s listening on %s", process.pid, server.http_url)
        return server

    def _wait_for_ping(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise InfluxServerError(
                    f"influxd exited with code {self.process.returncode} during start-up; "
                    f"log tail:\n{self.log_tail()}"
                )
            try:
                if requests.get(f"{self.http_url}/ping", timeout=1).status_code == 204:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise InfluxServerError(
            f"influxd (pid {self.process.pid}) did not answer {self.http_url}/ping within "
            f"{timeout_s:.0f} s; log tail:\n{self.log_tail()}"
        )

    def _create_admin(self) -> None:
        """First user on an auth-enabled 1.x server: allowed without credentials, must be admin."""
        self.username = "smx_admin"
        self.password = secrets.token_urlsafe(16)
        query = f"CREATE USER \"{self.username}\" WITH PASSWORD '{self.password}' WITH ALL PRIVILEGES"
        resp = requests.post(f"{self.http_url}/query", data={"q": query}, timeout=10)
        if resp.status_code != 200 or '"error"' in resp.text:
            raise InfluxServerError(f"creating the admin user failed: {resp.status_code} {resp.text}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate our own influxd by pid, then kill it if it does not exit in time."""
        if self.process.poll() is not None:
            return
        try:
            self.process.terminate()
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)

    def __enter__(self) -> InfluxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- addresses

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def url(self) -> str:
        """An ``SMX_SENSOR_STORE_URL`` selecting this server (credentials included in auth mode)."""
        cred = f"{self.username}:{self.password}@" if self.username else ""
        return f"influxdb://{cred}127.0.0.1:{self.http_port}/{self.database}"

    def url_with(self, *, user: str | None = None, password: str | None = None,
                 database: str | None = None) -> str:
        """The store URL with other credentials or database (tests of auth failures)."""
        cred = f"{user}:{password}@" if user is not None else ""
        return f"influxdb://{cred}127.0.0.1:{self.http_port}/{database or self.database}"

    def log_tail(self, n_lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n_lines:])
        except OSError as exc:
            return f"(no log: {exc})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a local InfluxDB 1.x in the foreground.")
    parser.add_argument("--dir", required=True, type=Path, help="data/config folder")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    parser.add_argument("--auth", action="store_true", help="require credentials (admin user)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = InfluxServer.start(args.dir, auth=args.auth, port=args.port)
    print(f"SMX_SENSOR_STORE_URL={server.url}", flush=True)
    print(f"pid={server.pid}", flush=True)

    stopping = threading.Event()

    def _stop(_sig: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping.is_set() and server.process.poll() is None:
            stopping.wait(1.0)
    finally:
        server.stop()
    if server.process.returncode not in (0, -signal.SIGTERM, None) and not stopping.is_set():
        print(f"influxd exited with {server.process.returncode}; log tail:\n{server.log_tail()}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
