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
test: install influxdb
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The herd DB schema is migrated at start-up (runs only check it), so `smx migrate` first.
ui: install
	$(BIN)/smx migrate
	SMX_LIVE_SIMULATION=1 $(BIN)/dagster dev -h 127.0.0.1 -p 3000

clean:
	rm -rf .smx history storage schedules logs .logs_queue
