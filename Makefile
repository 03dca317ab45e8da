# Usher's two everyday commands: `make console` and `make test`. Both set up what they need.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
LOCK   := requirements.lock

.PHONY: console serve install lock test test-loaded lint bench system-packages screenshots messages

## Runtime dependencies exactly as locked (every file's hash checked), then Usher itself
$(RUNTIME): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(RUNTIME)

## The tests' extra on top (pytest, Playwright, ruff, mypy, …)
$(STAMP): $(RUNTIME)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Open the console on ./usher.db with the signup server at http://127.0.0.1:8000
console: $(RUNTIME)
	$(VENV)/bin/usher console $(ARGS)

## The signup server alone (no console)
serve: $(RUNTIME)
	$(VENV)/bin/usher serve $(ARGS)

## A deployment's install (README, "Deploying"): runtime dependencies from the lock only
install: $(RUNTIME)

## Refresh requirements.lock from pyproject.toml (newest versions its ranges allow, with hashes)
lock:
	$(PYTHON) -m venv $(VENV)-tools
	$(VENV)-tools/bin/pip install --quiet pip-tools
	$(VENV)-tools/bin/pip-compile --quiet --upgrade --generate-hashes --strip-extras \
		--allow-unsafe --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml

## Debian packages the tests drive: chromium (browser tests), tmux (real-terminal tests), caddy (HTTPS), openssh (SSH tests), postgresql (the PostgreSQL engine)
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

## The README's pictures (deploy/screenshots/), drawn from a seeded demo database: the console as
## SVGs Textual renders, the invitee's pages as PNGs from chromium at a phone's size
screenshots: $(STAMP) system-packages
	$(PY) scripts/screenshots.py --out deploy/screenshots

## Translations: extract every page's and email's text into store/locale/usher.pot, then bring
## each language's store/locale/<code>/LC_MESSAGES/usher.po up to date (new strings empty,
## changed ones fuzzy: tests/test_languages.py fails until a translator fills them in).
## No .mo to build: store/domain/languages.py compiles the .po in memory when it is first used.
messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F store/locale/babel.cfg -k N_ --no-location --sort-output \
		--project Usher --copyright-holder "Usher's authors" -o store/locale/usher.pot .
	for code in fr de es ar; do \
		if [ -f store/locale/$$code/LC_MESSAGES/usher.po ]; then \
			$(VENV)/bin/pybabel update -D usher -i store/locale/usher.pot -d store/locale -l $$code --no-wrap; \
		else \
			$(VENV)/bin/pybabel init -D usher -i store/locale/usher.pot -d store/locale -l $$code --no-wrap; \
		fi; \
	done
