# The two commands of the README: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_PATIENTS ?= 200
export FLASK_APP := app
# BASE_URL (links in the demo, handouts, e-mails) follows them when it is not set.
export HOST PORT

.PHONY: run test install install-dev translations messages demo lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/python -m compileall -q $(VENV)/lib >/dev/null || true
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m compileall -q $(VENV)/lib >/dev/null || true
	touch $@

# axe-core for the browser accessibility scans, from the npm registry (pinned by the lock file).
tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/browser --no-audit --no-fund --silent; \
	else echo "npm not found: accessibility scans will be skipped"; fi

install: $(VENV)/.runtime translations
# The official FHIR R4 JSON schema for the export tests (run with node), pinned by its lock file.
tests/fhir/node_modules/.package-lock.json: tests/fhir/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/fhir --no-audit --no-fund --silent; \
	else echo "npm not found: the FHIR schema tests will be skipped"; fi

install-dev: $(VENV)/.dev translations tests/browser/node_modules/.package-lock.json \
	tests/fhir/node_modules/.package-lock.json

translations: $(VENV)/.runtime
	@if ls surveys/infra/translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
		$(BIN)/pybabel -q compile -d surveys/infra/translations; fi

# Refresh the catalogues after adding or changing interface text: extract, then update each
# language's messages.po (sorted, no location comments: fewer merge conflicts). Then translate.
CATALOGUES := surveys/infra/translations
messages: $(VENV)/.runtime
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 --no-location --sort-output -w 110 -o $(CATALOGUES)/messages.pot .
	$(BIN)/pybabel -q update -i $(CATALOGUES)/messages.pot -d $(CATALOGUES) -w 110 --ignore-obsolete --no-fuzzy-matching
	rm -f $(CATALOGUES)/messages.pot
	$(BIN)/python -c 'import sys; from pathlib import Path; from babel.messages.pofile import read_po, write_po; \
	cats = [(p, read_po(p.open("rb"))) for p in Path(sys.argv[1]).glob("*/LC_MESSAGES/messages.po")]; \
	[write_po(p.open("wb"), c, width=110, no_location=True, sort_output=True) for p, c in cats]' $(CATALOGUES)

demo: install
	$(BIN)/flask demo --patients $(DEMO_PATIENTS)

run: demo
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# In parallel (pytest-xdist): one worker per core, at most 4 (tests/conftest.py), each with its own
# PostgreSQL database. `--dist loadgroup` spreads single tests, except groups marked xdist_group,
# which stay on one worker. `make test PYTEST_ARGS="-n 0"` runs serially; extra arguments go last.
PYTEST_PARALLEL ?= -n auto --dist loadgroup
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r app.py instruments surveys reports -lll

bench: install-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache
