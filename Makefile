# The two commands of the Quick start: `make devnet` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Message catalogs (node/translations/README.md): one domain, messages; .mo files are built, never committed.
TRANSLATIONS := node/translations
POT := $(TRANSLATIONS)/messages.pot
BABEL_KEYWORDS := -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po))
READY := $(STAMP) $(MO_FILES)

.PHONY: lint test test-pg quick devnet bench chaos venv clean translations pot

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pybabel -q compile --domain messages --directory $(TRANSLATIONS)
	touch $(STAMP)

# A catalog edited or pulled since it was compiled is compiled again (empty msgstrs show the English text).
$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po | $(STAMP)
	$(BIN)/pybabel -q compile --domain messages --directory $(TRANSLATIONS) --locale $*

venv: $(READY)

translations: $(STAMP)  ## after changing marked text: extract the .pot, update every language's .po, compile
	@$(MAKE) --no-print-directory pot
	$(BIN)/pybabel update --input-file $(POT) --output-dir $(TRANSLATIONS) --domain messages \
		--no-fuzzy-matching --ignore-pot-creation-date
	$(BIN)/pybabel compile --domain messages --directory $(TRANSLATIONS) --statistics

# The .pot is replaced only when more than its creation date changed (tests/test_translations.py runs this with POT=...).
pot:
	@$(BIN)/pybabel -q extract --mapping-file babel.cfg $(BABEL_KEYWORDS) --project=sifnet --copyright-holder="the sifnet authors" --no-location \
		--output-file $(POT).new .
	@if diff -q -I '^"POT-Creation-Date:' $(POT) $(POT).new >/dev/null 2>&1; then rm $(POT).new; \
	else mv $(POT).new $(POT); fi

# The two lanes run side by side (most of their time is spent waiting on node processes); the
# PostgreSQL lane's output is printed after the SQLite run. Either failing fails `make test`.
lint: $(READY)  ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint  ## lint, then the whole suite on SQLite and, beside it, the PostgreSQL lane (or a line saying why it is skipped)
	@mkdir -p test-artifacts
	@PYTEST_ADDOPTS="--basetemp=$(CURDIR)/test-artifacts/pg-lane-tmp" $(BIN)/python -m tests.pg \
		> test-artifacts/pg-lane.log 2>&1 & pg=$$!; \
	$(BIN)/python -m pytest; sqlite=$$?; \
	wait $$pg; pgrc=$$?; \
	echo "== PostgreSQL lane (test-artifacts/pg-lane.log)"; tail -n 40 test-artifacts/pg-lane.log; \
	echo "== SQLite lane exit $$sqlite, PostgreSQL lane exit $$pgrc"; \
	test $$sqlite -eq 0 && test $$pgrc -eq 0

test-pg: $(READY)  ## only the PostgreSQL lane: ledger, review, federation, backup and upgrade suites
	$(BIN)/python -m tests.pg

quick: $(READY)  ## the fast tests only
	$(BIN)/python -m pytest -m 'not slow and not browser and not chaos'

devnet: $(READY)  ## five national nodes on loopback with demo data (make devnet ARGS="--reset")
	$(BIN)/python deploy/devnet.py $(ARGS)

bench: $(READY)  ## every benchmark, each prints its figure, limit and ratio (benchmarks/seed.py is their seeding)
	@for b in $(filter-out benchmarks/seed.py,$(wildcard benchmarks/*.py)); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

SEEDS ?= 20
NODES ?= 5
chaos: $(READY)  ## seeded chaos runs: SEEDS=200 runs seeds 1..200, SEED=n replays one (NODES=3..5, CHAOS_ARGS=...)
	$(BIN)/python -m tests.chaos.harness $(if $(SEED),--seed $(SEED),--seeds 1-$(SEEDS)) --nodes $(NODES) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
