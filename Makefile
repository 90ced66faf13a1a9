# Two entry points: `make demo` and `make test`. Each builds or refreshes the local
# environment (.venv) from the lock file when needed, then runs.
#
# uv is pinned and bootstrapped into .tools/ so that nothing outside the project is touched.

UV_VERSION := 0.13.8
PYTHON     ?= python3
UV         := .tools/bin/uv
VENV       := .venv
STAMP      := $(VENV)/.synced
BIN        := $(VENV)/bin

.PHONY: demo test lint format bench bench-fit bench-llm bench-sweep env core-check clean

demo: $(STAMP)
	$(BIN)/spillover demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Peers (EoN, NDlib) live in their own dependency group: only the benchmarks need them.
bench: $(STAMP)
	$(UV) sync --frozen --inexact --group bench
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_scale.py

# The other benchmarks (figures in docs/fitting.md, docs/llm.md, docs/sweeps.md).
bench-fit: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py

bench-llm: $(STAMP)
	$(BIN)/python benchmarks/bench_llm.py

bench-sweep: $(STAMP)
	$(BIN)/python benchmarks/bench_sweep.py

env: $(STAMP)

# The core alone: an environment with no extras and no dev tools simulates, fits and writes a
# run (.ci/core_only.py); tests/test_extras.py checks the same with the extras hidden.
core-check: | $(UV)
	UV_PROJECT_ENVIRONMENT=.venv-core $(UV) sync --frozen --no-dev --compile-bytecode
	cd $$(mktemp -d) && $(CURDIR)/.venv-core/bin/python $(CURDIR)/.ci/core_only.py

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode
	@touch $@

clean:
	rm -rf $(VENV) .venv-core .tools .mypy_cache .ruff_cache .pytest_cache
