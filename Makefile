# The README's two commands: `make demo` (the whole pipeline on synthetic data, CPU, no weights) and
# `make test`. Both create .venv and install the package (with the dev and app extras: the suite
# tests the web app too) when no virtual environment is active.
SHELL := /bin/bash
VENV ?= .venv
ifdef VIRTUAL_ENV
PYTHON := python
STAMP := $(VIRTUAL_ENV)/.iosm-installed
else
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.iosm-installed
endif
# The CPU build lies on this kind of machine's disk; a GPU user with torch already installed keeps theirs.
TORCH_CPU ?= torch==2.13.0
DEMO_OUT ?= demo_output

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$$VIRTUAL_ENV" ] && [ ! -x $(VENV)/bin/python ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -m pip install -q --upgrade pip
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q $(TORCH_CPU)
	$(PYTHON) -m pip install -q -e ".[dev,app]"
	@touch $@

demo: setup
	$(PYTHON) -m iosm.demo --out $(DEMO_OUT)

test: setup
	$(PYTHON) -m pytest -q tests

clean:
	rm -rf $(VENV) outputs multirun $(DEMO_OUT) .pytest_cache
