"""The deployment files that cannot run here (no Docker engine, no Kubernetes) still have to
agree with the project: they parse, name modules that import, env vars the package actually
reads, and the same ports and run-queue limits everywhere.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CODE_SERVER_PORT = 4000
API_PORT = 8000
DAGSTER_SERVICES = ("code-server", "webserver", "daemon")

_ENV_READ = re.compile(
    # `env(` covers the `env = os.environ.get` alias (scoring sensor knobs).
    r"""(?:environ(?:\.get)?\(|environ\[|getenv\(|EnvVar(?:\.int)?\(|env_or_default\(|(?<![\w.])env\()"""
    r"""\s*["']([A-Z0-9_]+)["']"""
)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _env_refs(node: Any) -> set[str]:
    """Names used as ``{env: NAME}`` anywhere in a Dagster YAML file."""
    found: set[str] = set()
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            found.add(node["env"])
        for value in node.values():
            found |= _env_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _env_refs(value)
    return found


@pytest.fixture(scope="module")
def package_env_vars() -> set[str]:
    """Every env var the smx_assets package reads: the settings table, plus a grep of the source
    for the few read outside it (dev tools, the CLI's DAGSTER_HOME)."""
    from smx_assets.settings import TABLE

    names: set[str] = {row.name for row in TABLE}
    for path in (ROOT / "smx_assets").rglob("*.py"):
        names |= set(_ENV_READ.findall(path.read_text()))
    assert {"SMX_HERD_DB_URL", "SMX_SENSOR_STORE_URL", "MLFLOW_TRACKING_URI"} <= names
    return names


@pytest.fixture(scope="module")
def instance_env_vars() -> set[str]:
    return _env_refs(_yaml(INFRA / "dagster" / "dagster.yaml")) | _env_refs(
        _yaml(INFRA / "dagster" / "workspace.yaml")
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _yaml(INFRA / "compose" / "compose.yaml")


@pytest.fixture(scope="module")
def helm() -> dict[str, Any]:
    return _yaml(INFRA / "helm" / "values.yaml")


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instr, _, args = line.partition(" ")
            out.append((instr.upper(), args.strip()))
    return out


def _code_server_cmd() -> list[str]:
    (cmd,) = [json.loads(args) for instr, args in _dockerfile() if instr == "CMD"]
    return cmd


def _opt(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
    raise AssertionError(f"none of {names} in {argv}")


# ------------------------------------------------------------------ Dagster instance files


def test_instance_env_vars_are_set_by_compose_and_the_local_topology(
    instance_env_vars: set[str], compose: dict[str, Any]
) -> None:
    from smx_assets.devtools.topology import TopologyConfig

    assert instance_env_vars == {
        "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB", "DAGSTER_COMPUTE_LOGS_DIR", "DAGSTER_CODE_SERVER_HOST",
        "DAGSTER_CODE_SERVER_PORT",
    }
    assert instance_env_vars <= set(TopologyConfig().env())
    for name in DAGSTER_SERVICES:
        assert instance_env_vars <= set(compose["services"][name]["environment"]), name


def test_workspace_names_the_location_the_code_server_serves() -> None:
    (entry,) = _yaml(INFRA / "dagster" / "workspace.yaml")["load_from"]
    assert entry["grpc_server"]["location_name"] == _opt(_code_server_cmd(), "--location-name")


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_builds_the_pinned_code_location_as_non_root() -> None:
    steps = _dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(args for instr, args in steps if instr == "RUN")
    assert "pip install -c constraints.txt ." in runs
    user = [args for instr, args in steps if instr == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert [args.split() for instr, args in steps if instr == "EXPOSE"] == [[str(CODE_SERVER_PORT), str(API_PORT)]]
    for instr, args in steps:
        if instr == "COPY":
            *sources, _dest = shlex.split(args)
            for src in sources:
                if src != ".":
                    assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"


def test_dockerfile_cmd_starts_a_code_server_for_an_importable_module() -> None:
    cmd = _code_server_cmd()
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert int(_opt(cmd, "-p", "--port")) == CODE_SERVER_PORT
    module = importlib.import_module(_opt(cmd, "-m", "--module-name"))
    assert isinstance(module.defs, dg.Definitions)


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".smx", ".git"} <= set(ignored)


# ------------------------------------------------------------------ Compose


def test_compose_has_the_whole_topology_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "influxdb", "mlflow", "api", *DAGSTER_SERVICES}
    for name, svc in services.items():
        assert "healthcheck" in svc, name
        assert svc.get("image"), name
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["influxdb"]["image"] in ("influxdb:1.8", "influxdb:2.7")
    build = services["code-server"]["build"]
    assert (INFRA / "compose" / build["context"] / build["dockerfile"]).resolve() == ROOT / "Dockerfile"
    # One image for all Python services.
    images = {services[n]["image"] for n in ("mlflow", "api", *DAGSTER_SERVICES)}
    assert len(images) == 1


def test_compose_creates_the_three_databases(compose: dict[str, Any]) -> None:
    sql = (INFRA / "compose" / "initdb" / "01-smx-databases.sql").read_text()
    for db in ("smx_dagster", "smx_herd", "smx_mlflow"):
        assert f"CREATE DATABASE {db};" in sql
    env = compose["services"]["code-server"]["environment"]
    assert env["DAGSTER_PG_DB"] == "smx_dagster"
    assert env["SMX_HERD_DB_URL"].startswith("postgresql+psycopg2://")
    assert env["SMX_HERD_DB_URL"].endswith("/smx_herd")
    mlflow_env = compose["services"]["mlflow"]["environment"]
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"].endswith("/smx_mlflow")


def test_compose_env_vars_are_ones_the_project_reads(
    compose: dict[str, Any], package_env_vars: set[str], instance_env_vars: set[str]
) -> None:
    allowed = package_env_vars | instance_env_vars | {"DAGSTER_HOME"}
    for name in (*DAGSTER_SERVICES, "api"):
        unknown = set(compose["services"][name]["environment"]) - allowed
        assert not unknown, f"{name} sets env vars nothing reads: {unknown}"


def test_compose_commands_exist_and_ports_agree(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["code-server"]["environment"]
    assert int(env["DAGSTER_CODE_SERVER_PORT"]) == CODE_SERVER_PORT
    assert env["DAGSTER_CODE_SERVER_HOST"] == "code-server"
    assert services["code-server"]["expose"] == [str(CODE_SERVER_PORT)]
    assert "command" not in services["code-server"]  # the image's CMD
    assert services["code-server"]["healthcheck"]["test"][-1] == str(CODE_SERVER_PORT)
    # The workspace path the webserver/daemon use is where the Dockerfile puts it.
    copied = [shlex.split(a)[-1] for i, a in _dockerfile() if i == "COPY" and "workspace.yaml" in a]
    for name in ("webserver", "daemon"):
        cmd = services[name]["command"]
        ws = _opt(cmd, "-w", "--workspace")
        assert ws == copied[0].rstrip("/") + "/workspace.yaml"
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert services["mlflow"]["command"][:2] == ["mlflow", "server"]
    mlflow_port = int(_opt(services["mlflow"]["command"], "--port"))
    assert env["MLFLOW_TRACKING_URI"] == f"http://mlflow:{mlflow_port}"
    # Only loopback is published on the host (issue 8: no public binds by default).
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert "ports" not in services["code-server"]
    assert "ports" not in services["postgres"]


def test_compose_secrets_come_from_the_env_file(compose: dict[str, Any]) -> None:
    text = (INFRA / "compose" / "compose.yaml").read_text()
    assert "${SMX_PG_PASSWORD" in text and "${SMX_INFLUX_PASSWORD" in text
    example = (INFRA / "compose" / ".env.example").read_text()
    assert re.search(r"^SMX_PG_PASSWORD=$", example, re.M)
    assert ".env" in (INFRA / "compose" / ".gitignore").read_text().split()


def _serve_args(argv: list[str]):  # type: ignore[no-untyped-def]
    """``smx serve ...`` parsed by the CLI's own parser (a wrong flag fails here)."""
    from smx_assets.cli import build_parser

    assert argv[:2] == ["smx", "serve"], argv
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve"
    return args


def test_compose_api_serves_the_stores_of_the_runs_with_a_token(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api = services["api"]
    args = _serve_args(api["command"])
    assert args.host == "0.0.0.0" and args.port == API_PORT and args.workers >= 1
    assert api["ports"] == [f"127.0.0.1:{API_PORT}:{API_PORT}"]
    assert f"http://127.0.0.1:{API_PORT}/ready" in api["healthcheck"]["test"][-1]
    env, runs = api["environment"], services["code-server"]["environment"]
    for name in ("SMX_HERD_DB_URL", "SMX_SENSOR_STORE_URL", "MLFLOW_TRACKING_URI", "SMX_FEATURES_PATH"):
        assert env[name] == runs[name], name  # the stores the scoring runs write
    assert any(v.startswith("smx-data:/data") for v in api["volumes"])
    assert "${SMX_API_TOKEN:?" in (INFRA / "compose" / "compose.yaml").read_text()  # no token: no start
    assert re.search(r"^SMX_API_TOKEN=$", (INFRA / "compose" / ".env.example").read_text(), re.M)


# ------------------------------------------------------------------ Helm


def test_helm_user_deployment_runs_our_module_on_the_same_port(helm: dict[str, Any]) -> None:
    (dep,) = helm["dagster-user-deployments"]["deployments"]
    args = dep["codeServerArgs"]
    module = _opt(args, "-m", "--module-name")
    assert module == _opt(_code_server_cmd(), "-m", "--module-name")
    importlib.import_module(module)
    assert _opt(args, "--location-name") == "smx_assets"
    assert dep["port"] == CODE_SERVER_PORT
    assert dep["image"]["repository"].endswith("smx-assets")
    assert dep["includeConfigInLaunchedRuns"]["enabled"] is True


def test_helm_uses_k8s_runs_external_postgres_and_secrets(
    helm: dict[str, Any], package_env_vars: set[str]
) -> None:
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"
    pg = helm["postgresql"]
    assert pg["enabled"] is False and pg["postgresqlDatabase"] == "smx_dagster"
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"
    assert helm["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in pg  # from global.postgresqlSecretName
    secret_users = [
        helm["dagster-user-deployments"]["deployments"][0],
        helm["runLauncher"]["config"]["k8sRunLauncher"],
        helm["dagsterDaemon"],
        helm["dagsterWebserver"],
    ]
    for block in secret_users:
        assert {"name": "smx-secrets"} in block["envSecrets"]
    for item in helm["dagster-user-deployments"]["deployments"][0]["env"]:
        assert item["name"] in package_env_vars
    # The secret's keys documented at the top of the file are env vars the package reads.
    header = (INFRA / "helm" / "values.yaml").read_text().split("\n\n")[0]
    keys = set(re.findall(r"--from-literal=([A-Z0-9_]+)=", header))
    assert keys and keys <= package_env_vars


def test_helm_run_queue_matches_the_instance_file(helm: dict[str, Any]) -> None:
    instance = _yaml(INFRA / "dagster" / "dagster.yaml")["run_coordinator"]["config"]
    chart = helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert chart["maxConcurrentRuns"] == instance["max_concurrent_runs"]
    assert chart["tagConcurrencyLimits"] == instance["tag_concurrency_limits"]
    retries = _yaml(INFRA / "dagster" / "dagster.yaml")["run_retries"]
    assert helm["dagsterDaemon"]["runRetries"]["maxRetries"] == retries["max_retries"]
    assert helm["telemetry"]["enabled"] is False


# ------------------------------------------------------------------ InfluxDB, MLflow, local


def test_influxdb_conf_is_loopback_without_reporting() -> None:
    conf = tomllib.loads((INFRA / "influxdb" / "influxdb.conf").read_text())
    assert conf["reporting-disabled"] is True
    assert conf["bind-address"].startswith("127.0.0.1:")
    assert conf["http"]["bind-address"].startswith("127.0.0.1:")
    assert conf["http"]["auth-enabled"] is True


def test_mlflow_settings_name_the_psycopg2_driver_and_env_only_secrets() -> None:
    example = (INFRA / "mlflow" / "mlflow-server.env.example").read_text()
    assert re.search(r"^MLFLOW_BACKEND_STORE_URI=postgresql\+psycopg2://", example, re.M)
    script = (INFRA / "mlflow" / "run-mlflow-server").read_text()
    assert "exec mlflow server" in script and "--backend-store-uri" not in script


@pytest.mark.parametrize("script", ["up", "down", "status"])
def test_local_scripts_call_the_topology_module(script: str) -> None:
    path = INFRA / "local" / script
    assert path.stat().st_mode & 0o111
    assert f"-m smx_assets.devtools.topology {script}" in path.read_text()
    importlib.import_module("smx_assets.devtools.topology")


def test_helm_api_chart_deployment_with_readiness_probe_service_and_replicas(package_env_vars: set[str]) -> None:
    chart = INFRA / "helm" / "smx-api"
    assert _yaml(chart / "Chart.yaml")["name"] == "smx-api"
    values = _yaml(chart / "values.yaml")
    assert values["replicaCount"] >= 2
    assert values["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert values["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert values["service"]["type"] == "ClusterIP"
    assert values["image"]["repository"] == _yaml(INFRA / "helm" / "values.yaml")[
        "dagster-user-deployments"]["deployments"][0]["image"]["repository"]  # the one image
    assert {"name": "smx-secrets"} in values["envSecrets"]
    for item in values["env"]:
        assert item["name"] in package_env_vars
    deployment = (chart / "templates" / "deployment.yaml").read_text()
    for ref in (".Values.replicaCount", ".Values.readinessProbe", ".Values.livenessProbe", "containerPort: {{ .Values.port }}",
                "secretRef"):
        assert ref in deployment, ref
    (line,) = [ln for ln in deployment.splitlines() if "command:" in ln]
    argv = [a.replace("{{ .Values.port }}", str(values["port"])).replace("{{ .Values.workers }}", str(values["workers"]))
            for a in json.loads(line.split("command:", 1)[1])]
    args = _serve_args(argv)
    assert args.host == "0.0.0.0" and args.port == values["port"] == API_PORT and args.workers == values["workers"]
    service = (chart / "templates" / "service.yaml").read_text()
    assert "kind: Service" in service and "targetPort: http" in service and ".Values.service.port" in service
