# Set-up commands: `make demo`, `make lab` and `make test`. Each creates .venv when missing and
# reinstalls only when pyproject.toml changed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.peaktrade-installed

# `make lab PORT=8899` serves on another port; LAB_ARGS passes more options to `peaktrade lab`.
PORT     ?= 8888
LAB_ARGS ?=

.PHONY: install demo lab lint test bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "peaktrade needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@# compile the numba kernels into the cache now (says so; about a minute), not at the first backtest
	$(VENV)/bin/peaktrade warmup
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/peaktrade demo

# JupyterLab on notebooks/ with the project's kernel (registered in .venv), on 127.0.0.1, with a token.
lab: $(STAMP)
	$(VENV)/bin/peaktrade lab --port $(PORT) $(LAB_ARGS)

# Layering (import-linter, contracts in pyproject.toml) and lint (ruff), then the suite.
lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

# The suite includes the notebooks twice: papermill contract runs, and nbval (tests/notebooks/test_nbval.py).
# It runs on every core (pytest-xdist; TEST_WORKERS=0 runs them in one process): each worker takes a contiguous half of
# the tests (module fixtures set up once) and steals from the other's end when done, so neither idles.
TEST_WORKERS ?= auto
test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=30

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
