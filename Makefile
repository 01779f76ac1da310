# Each target sets up its own environment: `.venv` is (re)built when missing or when
# pyproject.toml is newer than the last install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint docs screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch is installed first and on its own, pinned, so that pip takes the local CPU wheel.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-base
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed-base
	$(BIN)/whyrec demo --out runs/demo

# Every check: style, layering (import-linter), types (mypy), the test suite, and the reference
# documentation built with --strict (a broken reference fails).
test: lint docs
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d runs/site

# The guide's screenshots, taken by the browser tests (Debian's chromium) into docs/images/.
screenshots: $(VENV)/.installed-dev
	WHYREC_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/test_dashboard_browser.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .import_linter_cache
