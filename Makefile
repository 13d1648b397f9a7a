# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test venv system-deps protos bench clean

$(STAMP): requirements-dev.txt $(wildcard services/*/requirements.txt)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

# Debian packages the tests drive (never downloaded browser builds).
system-deps:
	bash tools/install-system-deps.sh

run: venv
	$(BIN)/python -m devstack

test: venv system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

protos: venv
	$(BIN)/python tools/gen_protos.py

clean:
	rm -rf .local .pytest_cache
