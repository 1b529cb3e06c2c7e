# The README's two commands: `make demo` and `make test`. Everything else is a named part.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/python -m pytest
# Per-target time budgets (seconds); CI's whole budget is 90 minutes on 2 cores.
UNIT_BUDGET ?= 300
DAGS_BUDGET ?= 900

.PHONY: venv demo test test-fast lint unit dags clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,lint]'
	touch $@

venv: $(STAMP)

## demo: run the main job against the embedded default (SQLite Airflow home + sandbox)
demo: venv
	$(BIN)/python scripts/demo.py

## test: the whole suite
test: lint unit dags

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

clean:
	rm -rf $(VENV) .airflow build dist *.egg-info
