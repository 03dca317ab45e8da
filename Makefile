# Usher's two everyday commands: `make console` and `make test`. Both set up what they need.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: console serve test test-loaded lint bench system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Open the console on ./usher.db with the signup server at http://127.0.0.1:8000
console: $(STAMP)
	$(VENV)/bin/usher console $(ARGS)

## The signup server alone (no console)
serve: $(STAMP)
	$(VENV)/bin/usher serve $(ARGS)

## Debian packages the tests drive: chromium (browser tests), tmux (real-terminal tests), caddy (HTTPS)
system-packages:
	bash scripts/system-packages.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

## Everything CI runs: lint, types, and the whole test suite (the 20 slowest tests listed)
test: $(STAMP) system-packages lint
	$(VENV)/bin/pytest --durations=20 $(ARGS)

## The whole suite beside two CPU-burning processes, as on a busy shared machine
test-loaded: $(STAMP) system-packages
	bash scripts/test-loaded.sh $(ARGS)

## Every benchmark in bench/ (not part of the tests), each printing its figures; stops at the
## first that fails. `make bench ARGS=--quick` runs each at a small size.
bench: $(STAMP)
	@for b in bench/bench_*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(PY) "$$b" $(ARGS) || exit 1; done
