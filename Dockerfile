# The smx_assets code location image. One image serves every Python process of the topology:
# the gRPC code server (default CMD), run workers, and, with another command, the Dagster
# webserver and daemon, the MLflow server and the HTTP API (`smx serve --host 0.0.0.0 --port
# 8000`; same pinned versions everywhere, see infra/compose/compose.yaml, infra/helm/values.yaml
# and infra/helm/smx-api/).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DAGSTER_COMPUTE_LOGS_DIR=/opt/dagster/compute_logs \
    SMX_HOME=/data/smx

# The git sha stamped on every prediction and alert (the image has no .git):
#   docker build --build-arg SMX_CODE_VERSION=$(git rev-parse --short=12 HEAD) .
ARG SMX_CODE_VERSION=""
ENV SMX_CODE_VERSION=${SMX_CODE_VERSION}

WORKDIR /opt/smx

# The whole pinned tree first (constraints.txt is a full freeze), so code changes do not
# reinstall ~1.4 GB of dependencies. Test-only packages are left out of the image.
COPY constraints.txt ./
RUN grep -v -E '^(pytest|pytest-timeout|iniconfig|pluggy|ruff)==' constraints.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt

COPY . ./
RUN pip install -c constraints.txt . \
    && pip check

# The production instance and workspace (every secret comes from env vars at run time).
COPY infra/dagster/dagster.yaml infra/dagster/workspace.yaml /opt/dagster/dagster_home/

RUN useradd --system --uid 10001 --home-dir /home/smx --create-home smx \
    && mkdir -p /opt/dagster/compute_logs /data/smx \
    && chown -R smx:smx /opt/dagster /data

USER smx

# gRPC code server (workspace.yaml: DAGSTER_CODE_SERVER_PORT; Helm: port); the HTTP API (smx serve).
EXPOSE 4000 8000

# 0.0.0.0 inside the container so the webserver/daemon containers can reach it; the port is
# never published on the host (Compose: `expose`, Kubernetes: ClusterIP service).
CMD ["dagster", "code-server", "start", "-m", "smx_assets.definitions", "-h", "0.0.0.0", "-p", "4000", "--location-name", "smx_assets"]
