# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU wheel, pinned explicitly: an unpinned torch pulls gigabytes of CUDA packages.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[worker,dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/v2v serve

test: setup
	$(BIN)/python -m ruff check app workers models corpora training evaluation cli tests benchmarks
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/python -m ruff check app workers models corpora training evaluation cli tests benchmarks

clean:
	rm -rf $(VENV) var
