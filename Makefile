# The two commands the README starts with: `make run` and `make test`. Both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test lint setup bench docs clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[embedded,test,bench]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python bin/dev

test: lint
	$(VENV)/bin/python -m pytest

# Lint, the formatter's check and the type check: seconds, so the test command runs them first.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

docs: $(STAMP)
	$(VENV)/bin/python -m config.reference > docs/configuration.md

bench: $(STAMP)
	$(VENV)/bin/python -m bench.platform_bench

clean:
	rm -rf $(VENV) .run
