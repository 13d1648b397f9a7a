# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test venv system-deps protos bench clean model

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

# The bundled lyrics model (README "Model"): about an hour on 2 idle CPU cores,
# minutes on a GPU. Run again after it finished, it only rewrites MODEL_DIR from
# the last checkpoint (MODEL_DIR.run/). The corpus stays outside the repository;
# point CORPUS at your copy of songs.csv.
CORPUS ?= ../shared/corpus/songs.csv
MODEL_DIR ?= models/billionsongs-small
model: venv
	PYTHONPATH=services/generator $(BIN)/python -m generator.train $(CORPUS) \
		--column lyrics --title-column title --weight-column book --weight-power 0.5 \
		--vocab-size 4096 --n-layer 6 --n-embd 256 --n-head 4 --context 256 \
		--batch-size 16 --lr 1e-3 --min-lr 1e-4 --warmup 200 --steps 2400 \
		--top-k 40 --temperature 0.9 \
		--eval-every 200 --save-every 200 --sample-every 600 --threads 2 \
		--out $(MODEL_DIR) $(MODEL_ARGS)
