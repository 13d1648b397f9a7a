#!/usr/bin/env bash
# The generator on a lent GPU (issue 19), one prepared run: the gpu-marked
# determinism tests for both families, then bench/bench_generator.py (engine vs
# transformers generate vs a process per song) at 256 new tokens on the GPT-2
# 124M and SmolLM2-135M shapes (random weights, bf16). Installs nothing: the
# device's PyTorch plus what the working tree carries. Writes the JSON and the
# printed tables under $OUT (default bench/results/gpu).
#   bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu}"
mkdir -p "$OUT"
export PYTHONPATH="services/common:services/generator:${PYTHONPATH:-}"
PY="${PYTHON:-python3}"
status=0
"$PY" -m pytest -q -m gpu -p no:cacheprovider tests/unit/generator/test_engine_gpu.py \
    2>&1 | tee "$OUT/gpu-tests.txt" || status=1
for config in gpt2-124m smollm2-135m; do
  timeout 180 "$PY" bench/bench_generator.py --device cuda --dtype bfloat16 --config "$config" \
      --new-tokens 256 --batch-sizes 1,64,512 --per-request-songs 1 --threads 0 \
      --out "$OUT/generator-$config.json" 2>&1 | tee "$OUT/generator-$config.txt" || status=1
done
exit $status
