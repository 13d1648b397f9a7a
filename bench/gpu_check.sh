#!/usr/bin/env bash
# The generator on a lent GPU (issue 19), one prepared run of about 8 minutes
# at most, every part under its own timeout:
#   1. the wheels of .gpu-wheels/ (`make gpu-wheels`) installed into a scratch
#      folder put first on PYTHONPATH: the machine has Python and PyTorch with
#      CUDA, nothing else, no network; its torch is never touched;
#   2. the gpu-marked determinism tests for both families (1,000 ids alone and
#      in a full batch of 512, bf16), with the eager decode step, then
#   3. with the compiled one (GENERATOR_COMPILE=reduce-overhead: CUDA graphs);
#   4. bench/bench_generator.py (engine, engine compiled, transformers
#      generate, a process per song) at 256 new tokens on the GPT-2 124M and
#      SmolLM2-135M shapes (random weights, bf16).
# Writes the JSON, the printed tables and summary.txt under $OUT (default
# bench/results/gpu); exits 1 if any part failed or ran out of time.
#
#   bash bench/gpu_check.sh                          # on the GPU machine
#   GPU_CHECK_DEVICE=cpu GPU_WHEELS= OUT=/tmp/g bash bench/gpu_check.sh
#       # the dry run: the same steps on the CPU at tiny sizes, with the
#       # current environment (GPU_WHEELS empty); tests/bench/test_gpu_check.py
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
OUT="${OUT:-bench/results/gpu}"
WHEELS="${GPU_WHEELS-.gpu-wheels}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
: > "$OUT/summary.txt"
status=0
note() { echo "gpu_check: $*" | tee -a "$OUT/summary.txt"; }
# part NAME SECONDS COMMAND...: run it under a timeout, its output in $OUT/NAME.txt.
part() {
  local name="$1" limit="$2" start=$SECONDS rc
  shift 2
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.txt" 2>&1
  rc=$?
  tail -n 25 "$OUT/$name.txt"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    note "$name: ran past its ${limit} s (exit $rc)"; status=1
  elif [ "$rc" -ne 0 ]; then
    note "$name: FAILED (exit $rc) after $((SECONDS - start)) s"; status=1
  else
    note "$name: ok in $((SECONDS - start)) s"
  fi
}

if [ "$DEVICE" = cuda ]; then
  BENCH_CONFIGS="gpt2-124m smollm2-135m"
  # The compiled rows at batch 512 only: 256 new tokens are 4 cache blocks, 4
  # graphs to compile per batch size, each tens of seconds for these depths.
  BENCH_ARGS=(--device cuda --dtype bfloat16 --new-tokens 256 --batch-sizes 1,64,512
              --compile reduce-overhead --compile-batch-sizes 512 --per-request-songs 1 --threads 0)
  # Seconds per part, about 8 minutes in all with the install's 45: guesses
  # until a first run; whatever a part finished before its limit is kept.
  TEST_LIMIT=90 COMPILED_TEST_LIMIT=150 BENCH_LIMIT=90 BIG_BENCH_LIMIT=120
else
  BENCH_CONFIGS="tiny"
  BENCH_ARGS=(--device cpu --dtype float32 --new-tokens 8 --batch-sizes 2
              --compile reduce-overhead --per-request-songs 0 --threads 1)
  # Generous: about 35 s in all on 2 idle cores, three times that with other
  # tests running beside it; seconds here are not device time.
  TEST_LIMIT=150 COMPILED_TEST_LIMIT=150 BENCH_LIMIT=100 BIG_BENCH_LIMIT=100
fi
export GPU_CHECK_DEVICE="$DEVICE"

SITE=""
if [ -n "$WHEELS" ]; then
  if ! ls "$WHEELS"/*.whl > /dev/null 2>&1; then
    note "no wheels in $WHEELS (make gpu-wheels, and carry that folder)"; exit 1
  fi
  SITE="$(mktemp -d)"
  # --no-deps: the folder holds the whole set; pip must not reach for torch.
  # Without pip, a wheel is a zip: unpacked as is, it imports the same.
  if "$PY" -m pip --version > /dev/null 2>&1; then
    part install-wheels 45 "$PY" -m pip install --quiet --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
  else
    part install-wheels 45 "$PY" -c 'import sys, zipfile
for wheel in sys.argv[2:]:
    zipfile.ZipFile(wheel).extractall(sys.argv[1])' "$SITE" "$WHEELS"/*.whl
  fi
fi
export PYTHONPATH="${SITE:+$SITE:}services/common:services/generator:services/training:${PYTHONPATH:-}"
"$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
      "cuda", torch.cuda.is_available() and torch.cuda.get_device_name())' 2>&1 | tee -a "$OUT/summary.txt"

# torch.compile on CUDA builds Triton's launcher with the host's C compiler and Python headers.
note "C compiler: $(command -v cc gcc | head -n 1 || true)"
# -W default: a warning is reported in the part's output instead of failing (as
# pyproject.toml's filterwarnings would) the only run a device lease allows.
part gpu-tests "$TEST_LIMIT" "$PY" -m pytest -q -W default -m gpu -p no:cacheprovider \
    "tests/unit/generator/test_engine_gpu.py" -k "off"
part gpu-tests-compiled "$COMPILED_TEST_LIMIT" "$PY" -m pytest -q -W default -m gpu -p no:cacheprovider \
    "tests/unit/generator/test_engine_gpu.py" -k "reduce-overhead"
for config in $BENCH_CONFIGS; do
  limit=$BENCH_LIMIT
  [ "$config" = smollm2-135m ] && limit=$BIG_BENCH_LIMIT  # 30 layers: the longest compile
  part "generator-$config" "$limit" "$PY" bench/bench_generator.py --config "$config" "${BENCH_ARGS[@]}" \
      --out "$OUT/generator-$config.json"
done
[ -n "$SITE" ] && rm -rf "$SITE"
note "done: exit $status"
exit $status
