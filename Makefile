# The README's two commands: `make demo` and `make test`. Everything else is a named part.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest
# Per-target time budgets (seconds); CI's whole budget is 90 minutes on 2 cores.
UNIT_BUDGET ?= 300
DAGS_BUDGET ?= 900
UI_BUDGET   ?= 600
CHROMIUM    := /usr/bin/chromium
UI_STAMP    := $(VENV)/.ui-installed-stamp
DEPLOY_BUDGET ?= 900
DEPLOY_STAMP  := $(VENV)/.deploy-installed-stamp
WHEEL_BUDGET  ?= 600
COMPAT_BUDGET ?= 1800
BENCH_BUDGET  ?= 1260
BENCH_STAMP   := $(VENV)/.bench-installed-stamp
# make compat, one venv each: AIRFLOW_VERSION@PYTHON. The first is the floor declared in
# pyproject.toml (run with the lowest direct dependencies); then the latest 3.2.x and release.
COMPAT_AIRFLOW ?= 3.1.8@python3.11 3.2.2@python3.12 3.3.2@python3.13

.PHONY: venv demo test test-fast lint unit dags ui wheel compat clean test-deploy deploy bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,lint,release]'
	touch $@

venv: $(STAMP)

## demo: run the main job against the embedded default (SQLite Airflow home + sandbox)
demo: venv
	$(BIN)/python scripts/demo.py

## test: the whole suite
test: lint unit dags ui wheel compat test-deploy

## test-fast: unit tests only, for iteration (under 2 minutes)
test-fast: unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: venv
	timeout $(UNIT_BUDGET) $(PYTEST) tests/unit tests/sandbox -q -m "not dags"

dags: venv
	timeout $(DAGS_BUDGET) $(PYTEST) tests -q -m dags

$(UI_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[ui]'
	touch $@

## ui: the connection form in headless Chromium (Debian's; never `playwright install`)
ui: $(UI_STAMP)
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make ui: $(CHROMIUM) is missing and only root can apt-get install chromium"; \
	  fi; \
	fi
	timeout $(UI_BUDGET) $(PYTEST) tests/ui -q

## wheel: build the sdist and wheel, twine check, the unit suite from the wheel in .venvs/wheel
wheel: venv
	PYTHON=$(PYTHON) timeout $(WHEEL_BUDGET) bash scripts/wheel_test.sh

## compat: the unit and DAG suites from the wheel on each Airflow of COMPAT_AIRFLOW
compat: wheel
	timeout $(COMPAT_BUDGET) bash scripts/compat.sh $(COMPAT_AIRFLOW)

$(DEPLOY_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[deploy]'
	touch $@

## test-deploy (alias deploy): the example DAGs on PostgreSQL + Redis + CeleryExecutor, 2 workers
test-deploy: $(DEPLOY_STAMP)
	bash scripts/ensure_services.sh
	timeout $(DEPLOY_BUDGET) $(PYTEST) tests/deploy -q -rs

deploy: test-deploy

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

## bench: the sync benchmark (provider vs stock HttpHook, dlt, bare requests); writes
## benchmarks/RESULTS.md. About 13 minutes; not part of `make test` (a smoke run is).
bench: $(BENCH_STAMP)
	timeout $(BENCH_BUDGET) $(BIN)/python benchmarks/bench_sync.py --write

clean:
	rm -rf $(VENV) .venvs .airflow build dist *.egg-info
