# The two commands of the Quick start: `make devnet` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-pg quick devnet bench chaos venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The two lanes run side by side (most of their time is spent waiting on node processes); the
# PostgreSQL lane's output is printed after the SQLite run. Either failing fails `make test`.
test: $(STAMP)  ## the whole suite on SQLite and, beside it, the PostgreSQL lane (or a line saying why it is skipped)
	@mkdir -p test-artifacts
	@PYTEST_ADDOPTS="--basetemp=$(CURDIR)/test-artifacts/pg-lane-tmp" $(BIN)/python -m tests.pg \
		> test-artifacts/pg-lane.log 2>&1 & pg=$$!; \
	$(BIN)/python -m pytest; sqlite=$$?; \
	wait $$pg; pgrc=$$?; \
	echo "== PostgreSQL lane (test-artifacts/pg-lane.log)"; tail -n 40 test-artifacts/pg-lane.log; \
	echo "== SQLite lane exit $$sqlite, PostgreSQL lane exit $$pgrc"; \
	test $$sqlite -eq 0 && test $$pgrc -eq 0

test-pg: $(STAMP)  ## only the PostgreSQL lane: ledger, review, federation, backup and upgrade suites
	$(BIN)/python -m tests.pg

quick: $(STAMP)  ## the fast tests only
	$(BIN)/python -m pytest -m 'not slow and not browser and not chaos'

devnet: $(STAMP)  ## five national nodes on loopback with demo data (make devnet ARGS="--reset")
	$(BIN)/python deploy/devnet.py $(ARGS)

bench: $(STAMP)  ## every benchmark, each prints its figure, limit and ratio
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

SEEDS ?= 20
NODES ?= 5
chaos: $(STAMP)  ## seeded chaos runs: SEEDS=200 runs seeds 1..200, SEED=n replays one (NODES=3..5, CHAOS_ARGS=...)
	$(BIN)/python -m tests.chaos.harness $(if $(SEED),--seed $(SEED),--seeds 1-$(SEEDS)) --nodes $(NODES) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
