# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
TORCH_INDEX_URL ?=
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup setup-browser run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch pinned explicitly. On an x86 Linux machine without a GPU, `make setup TORCH_INDEX_URL=
	# https://download.pytorch.org/whl/cpu` installs the CPU build (PyPI's x86 wheel brings gigabytes of CUDA).
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install -q -e '.[worker,dev]'
	touch $(STAMP)

setup: $(STAMP)

# Headless Chromium (Debian's `chromium`) for the web page's browser test (tests/web). Installed when missing and
# apt-get can run (root, or sudo without a password); otherwise the test is skipped and says why.
setup-browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "setup-browser: cannot install chromium (not root, no sudo): tests/web skip"; \
	  else $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium \
	    || echo "setup-browser: apt-get install chromium failed: tests/web skip"; fi; }

run: setup
	$(BIN)/v2v serve

test: setup setup-browser
	$(BIN)/python -m ruff check app workers models corpora training evaluation cli tests benchmarks
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/python -m ruff check app workers models corpora training evaluation cli tests benchmarks

clean:
	rm -rf $(VENV) var
