# Two commands a new user needs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make demo PORT=8100 HOST=0.0.0.0 DATA_DIR=/tmp/sb` picks where the demo listens and keeps its data.
PORT ?= 8000
HOST ?= 127.0.0.1
DATA_DIR ?= .switchboard/demo

.PHONY: demo test lint typecheck unit install clean eval bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/switchboard demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: $(STAMP)
	$(BIN)/ruff check app tools connectors evals bench tests
	$(BIN)/ruff format --check app tools connectors evals bench tests

typecheck: $(STAMP)
	$(BIN)/mypy

# Two test processes (each whole file in one, for its module fixtures): the suite waits on
# subprocesses, servers and the database much of the time. PYTEST_WORKERS=0 runs it in one.
# The slowest tests are listed at the end: CI has 30 minutes, and they say where it goes.
PYTEST_WORKERS ?= 2
unit: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=15

test: lint typecheck unit

# Every benchmark section, one table each (bench/__main__.py); BENCH_ARGS="--quick --only cost" narrows it.
# The bench extra brings what the comparisons need (LangGraph); it is never part of the product.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --out .switchboard/bench/results.md $(BENCH_ARGS)

eval: $(STAMP)
	$(BIN)/switchboard eval classify --help

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# 1280×800 screenshots of every web UI page from a fresh demo (needs Debian's chromium: apt-get install chromium)
.PHONY: screenshots
screenshots: $(STAMP)
	$(BIN)/python -m tests.web.screenshots --out docs/screenshots
