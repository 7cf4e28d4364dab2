# zonefacts developer entry points. `make setup` is idempotent and near-instant when
# uv.lock and pyproject.toml have not changed since the last sync.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON     ?= python3
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
STAMP      := $(VENV)/.zonefacts-setup.stamp
INBOX      ?= samples
WAREHOUSE  ?= zonefacts.duckdb

.PHONY: help setup compile run test bench eval clean distclean

help:
	@echo "make setup   create .venv from uv.lock (bootstraps uv into $(TOOLS)/ if missing)"
	@echo "make run     ingest $(INBOX)/ into $(WAREHOUSE)"
	@echo "make compile byte-compile the project's modules (run, test, bench and eval do it first)"
	@echo "make test    run the test suite"
	@echo "make bench   benchmarks (see bench/)"
	@echo "make eval    extraction quality on the gold corpora in ../shared (table in .eval/last.md)"
	@echo "make clean   remove the local warehouse, staging and caches (keeps .venv)"

setup: $(STAMP)

# uv itself, pinned, in a private venv; built only when missing.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Re-sync only when the lock or the project metadata changed (or .venv was removed).
# Byte-compiled at install: with PYTHONDONTWRITEBYTECODE set (CI and this workplace set it)
# every process would otherwise compile Prefect and GX from source again (~10 s each).
$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

# The project's own modules, byte-compiled as the dependencies are (see above): every process of
# a run (the run, its validation process) would otherwise compile them from source. compileall
# rewrites only the files changed since, so this is near-instant when nothing changed.
PACKAGES := flows transforms expectations warehouse bench

compile: setup
	@$(VENV)/bin/python -m compileall -q -j 0 $(PACKAGES)

run: compile
	$(VENV)/bin/zonefacts run --inbox $(INBOX) --warehouse $(WAREHOUSE)

test: compile
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

# 10k generated articles: Prefect run, plain run, naive baseline, floor (BENCH_LARGE=1 adds RSS at 100k)
bench: compile
	BENCH_LARGE=$(BENCH_LARGE) $(VENV)/bin/python -m bench.run

# the pipeline on every gold corpus in ../shared, scored by its score_gold.py; EVAL_ARGS=--floors fails below a floor
eval: compile
	$(VENV)/bin/python -m bench.eval_gold $(EVAL_ARGS)

clean:
	rm -rf $(WAREHOUSE) $(WAREHOUSE).work $(WAREHOUSE).work.wal $(WAREHOUSE).wal \
	       $(WAREHOUSE).lock $(WAREHOUSE).staging .$(WAREHOUSE).publish-* \
	       .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -path ./$(TOOLS) -prune -o -name __pycache__ -type d -print0 \
	    | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(TOOLS)
