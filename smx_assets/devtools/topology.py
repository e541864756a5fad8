"""The production topology on one machine, all on loopback: ``up``, ``down``, ``status``.

Why this exists: the embedded default (``dagster dev``, SQLite) hides exactly the things that
break in production: a gRPC code server the webserver and daemon reach over the network, a
daemon that dequeues and launches runs, PostgreSQL instance storage, an MLflow *server*, a
real InfluxDB. This module starts those same processes with the same config files as
production (``infra/dagster/dagster.yaml``, ``infra/dagster/workspace.yaml``) so the
end-to-end test and a developer see what production sees.

* PostgreSQL is the one already running (``--pg-admin-url``); the databases ``smx_dagster``,
  ``smx_herd`` and ``smx_mlflow`` (plus an optional suffix, for tests) are created if missing
  and the herd schema is migrated (what ``smx migrate`` does).
* InfluxDB is ``python -m smx_assets.devtools.influx_server`` (Debian's influxd 1.x).
* Every process is started with ``start_new_session=True`` (its own process group: Dagster
  processes started from a non-interactive shell ignore SIGINT/SIGTERM sent by name, and
  child processes such as run workers must go down with their parent), recorded in
  ``<state>/topology.json`` with its pid and start time, and stopped by that pid only:
  SIGTERM to the group, SIGKILL after a timeout. Nothing is ever killed by name.
* Logs go to ``<state>/logs/<service>.log``; a failed start raises with the log tail.

Command line::

    infra/local/up [--state-dir .smx/topology] [--webserver-port 3000] [--db-suffix _dev]
    infra/local/status
    infra/local/down [--drop-databases]
    (= python -m smx_assets.devtools.topology up|status|down|env)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DAGSTER = REPO_ROOT / "infra" / "dagster"
DEFAULT_STATE_DIR = Path(".smx/topology")
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
LOCATION_NAME = "smx_assets"
LOOPBACK = "127.0.0.1"

# Service start order; stop runs in reverse (daemon first, so no new runs are launched
# while the code server that would run them goes away).
SERVICE_ORDER = ["influxdb", "mlflow", "code_server", "webserver", "daemon"]
DEFAULT_PORTS = {"influxdb": 8086, "mlflow": 5000, "code_server": 4000, "webserver": 3000}


class TopologyError(RuntimeError):
    """A service failed to start or to become healthy; the message carries its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _bin(name: str) -> str:
    """An executable from this interpreter's environment (the venv), not whatever is on PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (state files and logs must not leak it)."""
    from smx_assets.domain.redaction import mask_url as _mask

    return _mask(url)


# --------------------------------------------------------------------------- processes


def _proc_start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot), None if gone.

    Stored next to the pid so ``down`` never signals an unrelated process that reused the pid.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _alive(pid: int) -> bool:
    """True if the pid exists and is not a zombie (a zombie has exited; it only awaits reaping)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _reap(pid: int) -> None:
    """Collect the exit status when we are the parent, so the pid does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@dataclass
class ServiceRecord:
    """One started process as recorded in ``topology.json``."""

    name: str
    pid: int
    start_time: int | None
    port: int | None
    log: str
    argv: list[str]
    extra_pids: list[int] = field(default_factory=list)  # e.g. influxd under its wrapper

    def is_ours(self) -> bool:
        """The pid is still the process we started (not a reused pid)."""
        return _alive(self.pid) and _proc_start_time(self.pid) == self.start_time


def stop_process(record: ServiceRecord, timeout_s: float = 15.0) -> str:
    """SIGTERM the service's process group, SIGKILL it after ``timeout_s``; returns what happened."""
    if not record.is_ours():
        outcome = "not running"
    else:
        try:
            os.killpg(record.pid, signal.SIGTERM)  # pgid == pid: started with a new session
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _reap(record.pid)
            if not _alive(record.pid):
                break
            time.sleep(0.1)
        outcome = "stopped"
        if _alive(record.pid):
            try:
                os.killpg(record.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            outcome = "killed after timeout"
            for _ in range(50):
                _reap(record.pid)
                if not _alive(record.pid):
                    break
                time.sleep(0.1)
    # Processes the service started in a session of their own (influxd under its wrapper):
    # the wrapper stops them on SIGTERM; this is only the fallback after a SIGKILL.
    for pid in record.extra_pids:
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return outcome


def log_tail(path: str | Path, n_lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n_lines:])
    except OSError as exc:
        return f"(no log: {exc})"


# --------------------------------------------------------------------------- health checks


def http_ok(url: str, expect: Iterable[int] = (200,), timeout_s: float = 2.0) -> bool:
    try:
        return requests.get(url, timeout=timeout_s).status_code in set(expect)
    except requests.RequestException:
        return False


def grpc_serving(port: int) -> bool:
    """The code server answers the gRPC health check (what the webserver and daemon rely on)."""
    from dagster._grpc.client import DagsterGrpcClient

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((LOOPBACK, port)) != 0:
            return False  # not listening yet: skip the client, which prints every refusal
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            status = DagsterGrpcClient(port=port, host=LOOPBACK).health_check_query()
    except Exception:
        return False
    return str(status).upper() == "SERVING"


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = requests.post(
        f"http://{LOOPBACK}:{port}/graphql",
        json={"query": query, "variables": variables or {}},
        timeout=10,
    )
    resp.raise_for_status()
    body = resp.json()
    if body.get("errors"):
        raise TopologyError(f"GraphQL errors: {body['errors']}")
    return body["data"]


LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""

DAEMONS_QUERY = """
{ instance { daemonHealth { allDaemonStatuses {
    daemonType required healthy lastHeartbeatTime
} } } }
"""


def code_location_status(webserver_port: int) -> dict[str, str]:
    """``{location name: loaded type}`` as the webserver sees it ("RepositoryLocation" = loaded)."""
    data = graphql(webserver_port, LOCATIONS_QUERY)["workspaceOrError"]
    return {
        e["name"]: (e["locationOrLoadError"] or {}).get("__typename", e["loadStatus"])
        for e in data.get("locationEntries", [])
    }


def daemon_statuses(webserver_port: int) -> dict[str, bool]:
    """``{daemon type: healthy}`` for the required daemons, from their heartbeats in the instance."""
    statuses = graphql(webserver_port, DAEMONS_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return {s["daemonType"]: bool(s["healthy"]) for s in statuses if s["required"]}


# --------------------------------------------------------------------------- the topology


@dataclass
class TopologyConfig:
    """Where the topology keeps its state and which ports and databases it uses."""

    state_dir: Path = DEFAULT_STATE_DIR
    pg_admin_url: str = DEFAULT_PG_ADMIN_URL
    db_suffix: str = ""  # tests use a unique suffix so their databases can be dropped
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    start_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()

    @property
    def databases(self) -> dict[str, str]:
        return {k: f"smx_{k}{self.db_suffix}" for k in ("dagster", "herd", "mlflow")}

    def db_url(self, key: str) -> str:
        """A psycopg2 URL (SQLAlchemy 2.1 maps bare ``postgresql://`` to psycopg 3, not installed)."""
        url = sa.make_url(self.pg_admin_url).set(
            drivername="postgresql+psycopg2", database=self.databases[key]
        )
        return url.render_as_string(hide_password=False)

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster_home"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "topology.json"

    def env(self) -> dict[str, str]:
        """The environment every service gets: the production variable names, local values."""
        pg = sa.make_url(self.pg_admin_url)
        p = self.ports
        return {
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_PG_HOST": pg.host or LOOPBACK,
            "DAGSTER_PG_PORT": str(pg.port or 5432),
            "DAGSTER_PG_USER": pg.username or "postgres",
            "DAGSTER_PG_PASSWORD": pg.password or "",
            "DAGSTER_PG_DB": self.databases["dagster"],
            "DAGSTER_COMPUTE_LOGS_DIR": str(self.dagster_home / "compute_logs"),
            "DAGSTER_CODE_SERVER_HOST": LOOPBACK,
            "DAGSTER_CODE_SERVER_PORT": str(p["code_server"]),
            "SMX_HOME": str(self.state_dir / "smx_home"),
            "SMX_HERD_DB_URL": self.db_url("herd"),
            # One machine: every run worker shares the read cache, so a ten-minute run reads only
            # the buckets that changed since the previous run (see influx_store's read cache).
            "SMX_SENSOR_STORE_URL": f"influxdb://{LOOPBACK}:{p['influxdb']}/smx"
                                    f"?read_cache={self.state_dir / 'influx_read_cache'}",
            "SMX_FEATURES_PATH": str(self.state_dir / "features"),
            "MLFLOW_TRACKING_URI": f"http://{LOOPBACK}:{p['mlflow']}",
            "PYTHONUNBUFFERED": "1",
        }


class Topology:
    """Start, inspect and stop the local production topology described by a ``TopologyConfig``."""

    def __init__(self, config: TopologyConfig) -> None:
        self.config = config
        self.records: dict[str, ServiceRecord] = {}
        self.timings: dict[str, float] = {}

    # ---------------------------------------------------------------- state file

    @classmethod
    def load(cls, state_dir: Path = DEFAULT_STATE_DIR) -> Topology:
        """The topology recorded in ``state_dir`` by an earlier ``up`` (possibly another process)."""
        state_file = Path(state_dir).resolve() / "topology.json"
        if not state_file.exists():
            raise TopologyError(f"no topology recorded in {state_file.parent} (run `up` first)")
        data = json.loads(state_file.read_text())
        cfg = TopologyConfig(
            state_dir=Path(data["state_dir"]),
            pg_admin_url=data["pg_admin_url"],
            db_suffix=data["db_suffix"],
            ports=data["ports"],
        )
        topo = cls(cfg)
        topo.records = {name: ServiceRecord(**rec) for name, rec in data["services"].items()}
        return topo

    def _save(self) -> None:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        env = {k: (mask_url(v) if "URL" in k or "URI" in k else v) for k, v in cfg.env().items()}
        env["DAGSTER_PG_PASSWORD"] = "***" if env["DAGSTER_PG_PASSWORD"] else ""
        data = {
            "state_dir": str(cfg.state_dir),
            # The admin URL is needed by `down --drop-databases`; a password in it must come
            # from the environment instead of this file.
            "pg_admin_url": cfg.pg_admin_url if not sa.make_url(cfg.pg_admin_url).password
            else mask_url(cfg.pg_admin_url),
            "db_suffix": cfg.db_suffix,
            "ports": cfg.ports,
            "databases": cfg.databases,
            "env": env,
            "services": {name: asdict(rec) for name, rec in self.records.items()},
        }
        tmp = cfg.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(cfg.state_file)

    # ---------------------------------------------------------------- up

    def up(self) -> Topology:
        """Create databases, start every service and wait until each one is healthy.

        On any failure everything started so far is stopped again, and the error names the
        service and shows its log tail.
        """
        cfg = self.config
        t0 = time.monotonic()
        if cfg.state_file.exists():
            running = [r.name for r in Topology.load(cfg.state_dir).records.values() if r.is_ours()]
            if running:
                raise TopologyError(
                    f"a topology is already running from {cfg.state_dir} ({', '.join(running)}); "
                    "run `down` first"
                )
        for name, port in cfg.ports.items():
            if not port:
                cfg.ports[name] = free_port()
            elif not _port_free(port):
                raise TopologyError(f"port {port} for {name} is in use on {LOOPBACK}")
        (cfg.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        cfg.dagster_home.mkdir(parents=True, exist_ok=True)
        # The production instance file, unchanged: every value that differs comes from env.
        shutil.copyfile(INFRA_DAGSTER / "dagster.yaml", cfg.dagster_home / "dagster.yaml")
        try:
            self.ensure_databases()
            self.timings["databases"] = time.monotonic() - t0
            self._start_all()
        except BaseException:
            self.down()
            raise
        self.timings["total"] = time.monotonic() - t0
        return self

    def ensure_databases(self) -> None:
        """Create the three databases if missing and bring the herd schema to head."""
        admin = sa.create_engine(self.config.pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for name in self.config.databases.values():
                    exists = conn.execute(
                        sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                    ).scalar()
                    if not exists:
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as exc:
            raise TopologyError(
                f"PostgreSQL at {mask_url(self.config.pg_admin_url)} is not reachable: {exc.orig}"
            ) from exc
        finally:
            admin.dispose()
        from smx_assets.domain.herd_db_migrate import upgrade_herd_db

        upgrade_herd_db(self.config.db_url("herd"))  # = `smx migrate`

    def drop_databases(self) -> None:
        """Drop this topology's databases (tests; never called by plain ``down``)."""
        admin = sa.create_engine(self.config.pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for name in self.config.databases.values():
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def _argv(self, name: str) -> list[str]:
        cfg, p = self.config, self.config.ports
        workspace = str(INFRA_DAGSTER / "workspace.yaml")
        if name == "influxdb":
            return [sys.executable, "-m", "smx_assets.devtools.influx_server",
                    "--dir", str(cfg.state_dir / "influxdb"), "--port", str(p["influxdb"])]
        if name == "mlflow":
            return [_bin("mlflow"), "server",
                    "--backend-store-uri", cfg.db_url("mlflow"),
                    # Artifacts are proxied by the server (mlflow-artifacts:/): clients need
                    # no access to the artifact store, exactly as with S3/GCS in production.
                    "--serve-artifacts",
                    "--artifacts-destination", (cfg.state_dir / "mlflow_artifacts").as_uri(),
                    "--host", LOOPBACK, "--port", str(p["mlflow"]), "--workers", "1"]
        if name == "code_server":
            return [_bin("dagster"), "code-server", "start", "-m", "smx_assets.definitions",
                    "-h", LOOPBACK, "-p", str(p["code_server"]), "--location-name", LOCATION_NAME]
        if name == "webserver":
            return [_bin("dagster-webserver"), "-w", workspace, "-h", LOOPBACK,
                    "-p", str(p["webserver"])]
        if name == "daemon":
            return [_bin("dagster-daemon"), "run", "-w", workspace]
        raise KeyError(name)

    def _spawn(self, name: str) -> ServiceRecord:
        cfg = self.config
        log_path = cfg.state_dir / "logs" / f"{name}.log"
        env = {**os.environ, **cfg.env()}
        if name == "mlflow":
            # MLflow 3's server otherwise starts ~7 huey job-runner processes for GenAI jobs
            # (trace evaluation, prompt optimisation) this platform does not use.
            env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        argv = self._argv(name)
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                argv, cwd=cfg.state_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        # Logged argv has credentials masked (the mlflow backend URI carries the PG URL).
        shown = [mask_url(a) if "://" in a else a for a in argv]
        rec = ServiceRecord(name, proc.pid, _proc_start_time(proc.pid), cfg.ports.get(name),
                            str(log_path), shown)
        self.records[name] = rec
        self._save()
        return rec

    def _health(self, name: str) -> Callable[[], bool]:
        p = self.config.ports
        if name == "influxdb":
            return lambda: http_ok(f"http://{LOOPBACK}:{p['influxdb']}/ping", expect=(204,))
        if name == "mlflow":
            return lambda: http_ok(f"http://{LOOPBACK}:{p['mlflow']}/health")
        if name == "code_server":
            return lambda: grpc_serving(p["code_server"])
        if name == "webserver":
            return lambda: http_ok(f"http://{LOOPBACK}:{p['webserver']}/server_info")
        if name == "daemon":
            def daemon_ok() -> bool:
                try:
                    statuses = daemon_statuses(p["webserver"])
                except Exception:
                    return False
                return bool(statuses) and all(statuses.values())
            return daemon_ok
        raise KeyError(name)

    def _wait(self, names: list[str], started: float) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        pending = list(names)
        while pending:
            for name in list(pending):
                rec = self.records[name]
                _reap(rec.pid)
                if not _alive(rec.pid):
                    raise TopologyError(
                        f"{name} (pid {rec.pid}) exited during start-up; log tail "
                        f"({rec.log}):\n{log_tail(rec.log)}"
                    )
                if self._health(name)():
                    self.timings[name] = time.monotonic() - started
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                name = pending[0]
                rec = self.records[name]
                raise TopologyError(
                    f"{name} (pid {rec.pid}) not healthy after {self.config.start_timeout_s:.0f} s; "
                    f"log tail ({rec.log}):\n{log_tail(rec.log)}"
                )
            time.sleep(0.25)

    def _start_all(self) -> None:
        # Stores and the code server first (in parallel: imports dominate on 2 cores); the
        # webserver and daemon only once the code server serves, so they load the location at
        # once instead of recording a load error.
        started = time.monotonic()
        for name in ("influxdb", "mlflow", "code_server"):
            self._spawn(name)
        self._wait(["influxdb", "code_server"], started)
        rec = self.records["influxdb"]
        rec.extra_pids = _influxd_pids(rec.log)
        for name in ("webserver", "daemon"):
            self._spawn(name)
        self._save()
        self._wait(["mlflow", "webserver", "daemon"], started)

    # ---------------------------------------------------------------- down / status

    def down(self, timeout_s: float = 15.0) -> dict[str, str]:
        """Stop every recorded service (reverse start order) by its own pid; returns outcomes."""
        outcomes: dict[str, str] = {}
        for name in reversed(SERVICE_ORDER):
            rec = self.records.get(name)
            if rec is not None:
                t0 = time.monotonic()
                outcome = stop_process(rec, timeout_s)
                outcomes[name] = f"{outcome} ({time.monotonic() - t0:.1f} s)"
        if self.config.state_file.exists():
            self._save()
        return outcomes

    def status(self) -> list[dict[str, Any]]:
        """One row per service: pid, whether it is our running process, port, health."""
        rows = []
        for name in SERVICE_ORDER:
            rec = self.records.get(name)
            if rec is None:
                rows.append({"service": name, "pid": None, "running": False,
                             "port": self.config.ports.get(name), "healthy": False, "log": ""})
                continue
            running = rec.is_ours()
            healthy = running and self._health(name)()
            rows.append({"service": name, "pid": rec.pid, "running": running, "port": rec.port,
                         "healthy": healthy, "log": rec.log})
        return rows

    @property
    def webserver_url(self) -> str:
        return f"http://{LOOPBACK}:{self.config.ports['webserver']}"


def _influxd_pids(log_path: str) -> list[int]:
    """The influxd pid the wrapper prints (``pid=N``): it runs in a session of its own."""
    for line in log_tail(log_path, 200).splitlines():
        if line.startswith("pid="):
            try:
                return [int(line[4:])]
            except ValueError:
                pass
    return []


# --------------------------------------------------------------------------- CLI


def _parse(argv: list[str] | None) -> argparse.Namespace:
    # --state-dir on every sub-command, so `infra/local/up --state-dir D` works.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", type=Path,
                        default=Path(os.environ.get("SMX_TOPOLOGY_DIR", DEFAULT_STATE_DIR)),
                        help="where pids, logs and data live (default .smx/topology)")
    parser = argparse.ArgumentParser(prog="smx-topology", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start the topology and wait until it is healthy")
    up.add_argument("--pg-admin-url", default=os.environ.get("SMX_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL))
    up.add_argument("--db-suffix", default="")
    for name, port in DEFAULT_PORTS.items():
        up.add_argument(f"--{name.replace('_', '-')}-port", type=int, default=port,
                        help=f"default {port}; 0 picks a free port")
    up.add_argument("--timeout", type=float, default=120.0)
    down = sub.add_parser("down", parents=[common], help="stop every recorded process by its pid")
    down.add_argument("--drop-databases", action="store_true",
                      help="also drop this topology's PostgreSQL databases (destroys data)")
    sub.add_parser("status", parents=[common], help="pid, port and health of each service")
    sub.add_parser("env", parents=[common], help="print the environment (export lines) to use the topology from a shell")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.command == "up":
        cfg = TopologyConfig(
            state_dir=args.state_dir, pg_admin_url=args.pg_admin_url, db_suffix=args.db_suffix,
            ports={n: getattr(args, f"{n}_port") for n in DEFAULT_PORTS},
            start_timeout_s=args.timeout,
        )
        try:
            topo = Topology(cfg).up()
        except TopologyError as exc:
            print(f"topology up failed: {exc}", file=sys.stderr)
            return 1
        print(f"topology up in {topo.timings['total']:.1f} s (state in {cfg.state_dir})")
        print(f"  Dagster UI   {topo.webserver_url}")
        print(f"  MLflow       {cfg.env()['MLFLOW_TRACKING_URI']}")
        print(f"  InfluxDB     {cfg.env()['SMX_SENSOR_STORE_URL']}")
        print(f"  PostgreSQL   {', '.join(cfg.databases.values())}")
        return 0
    try:
        topo = Topology.load(args.state_dir)
    except TopologyError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.command == "down":
        for name, outcome in topo.down().items():
            print(f"{name:12} {outcome}")
        if args.drop_databases:
            topo.drop_databases()
            print(f"dropped {', '.join(topo.config.databases.values())}")
        return 0
    if args.command == "env":
        for key, value in topo.config.env().items():
            print(f"export {key}={value!r}")
        return 0
    rows = topo.status()
    print(f"{'service':12} {'pid':>8} {'port':>6}  {'state':8} health  log")
    for r in rows:
        state = "running" if r["running"] else "stopped"
        print(f"{r['service']:12} {r['pid'] or '-':>8} {r['port'] or '-':>6}  {state:8} "
              f"{'ok' if r['healthy'] else '--':6}  {r['log']}")
    return 0 if all(r["healthy"] for r in rows) else 3


if __name__ == "__main__":
    sys.exit(main())
