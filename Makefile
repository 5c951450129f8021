# Sigil — every target creates the virtual environment in .venv/ on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test check bench lint venv clean

venv: $(STAMP)

# Installer output goes to stderr so that `make bench` prints nothing but its JSON on stdout.
$(STAMP): pyproject.toml
	@echo "installing Sigil into $(VENV)/ ..." >&2
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install -q --upgrade pip >&2
	@$(PY) -m pip install -q -e '.[dev]' >&2
	@touch $(STAMP)

## Start the server on its embedded default (SQLite in ./sigil-data, nothing to configure).
run: $(STAMP)
	$(VENV)/bin/sigil serve

## Every suite, the slow ones (PostgreSQL, schemathesis, crash test) included.
test: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests

## The fast subset: no PostgreSQL, no schemathesis, no crash test.
check: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -m "not slow" tests

## Benchmarks; prints one JSON document.
bench: $(STAMP)
	@$(PY) bench/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) sigil-data .pytest_cache .mypy_cache .ruff_cache
