# Two entry points matter: `make demo` (the main job end to end on the embedded default)
# and `make test` (the whole suite on real servers). Both install what they need first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export DAGSTER_HOME ?= $(CURDIR)

.PHONY: install demo test influxdb ui bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

# InfluxDB 1.x from Debian (no 2.x/3.x server installs here); the tests start their own instance.
influxdb:
	@command -v influxd >/dev/null || { \
	  echo "installing InfluxDB (Debian package influxdb)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null; }

demo: install
	$(BIN)/smx demo $(ARGS)

# Lint first (ruff, configured in pyproject.toml): seconds, and a failure needs no test run.
# The suite runs on one pytest-xdist worker per core (TEST_WORKERS=1 for one process), whole
# files per worker so module fixtures are built once, the files marked slow first (conftest.py).
TEST_WORKERS ?= auto
test: install influxdb
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# The herd DB schema is migrated at start-up (runs only check it), so `smx migrate` first.
# The MLflow UI runs beside Dagster on SMX_MLFLOW_UI_URL (default http://127.0.0.1:5000) against
# the configured tracking store: the runs, model versions and drift reports the asset metadata
# links to. It is stopped (its whole process group) when `dagster dev` exits.
# Hosts and ports come from the settings (SMX_MLFLOW_UI_URL, SMX_DAGSTER_UI_URL): see
# smx_assets/devtools/ui_addresses.py.
ui: install
	$(BIN)/smx migrate
	@words=$$($(BIN)/python -m smx_assets.devtools.ui_addresses) || exit 2; eval set -- $$words; \
	  echo "MLflow UI on http://$$2:$$3 (store $$1), log $$4/mlflow-ui.log; Dagster UI on http://$$5:$$6"; \
	  setsid $(BIN)/mlflow ui --backend-store-uri "$$1" --host "$$2" --port "$$3" --workers 1 > "$$4/mlflow-ui.log" 2>&1 & \
	  mlflow_pid=$$!; trap 'kill -- -$$mlflow_pid 2>/dev/null' EXIT INT TERM; \
	  SMX_LIVE_SIMULATION=1 $(BIN)/dagster dev -h "$$5" -p "$$6"

clean:
	rm -rf .smx history storage schedules logs .logs_queue
