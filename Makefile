# The two commands of the Quick start: `make devnet` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test quick devnet bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)  ## run the whole suite
	$(BIN)/python -m pytest

quick: $(STAMP)  ## the fast tests only
	$(BIN)/python -m pytest -m 'not slow and not browser'

devnet: $(STAMP)  ## five national nodes on loopback with demo data
	$(BIN)/python -m node.devnet

bench: $(STAMP)  ## every benchmark, each prints its figure, limit and ratio
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
