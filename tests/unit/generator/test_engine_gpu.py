"""Invariant 1 on CUDA (run through the device tool: `pytest -m gpu`, or
bench/gpu_check.sh): 1,000 ids generated in a full batch of 512 rows, the first
200 of them each byte-identical alone (the rest would not fit gpu_check.sh's
minutes), in bf16, for both families the engine serves, with the eager decode
step and with the compiled one (GENERATOR_COMPILE=reduce-overhead: CUDA graphs).

GPU_CHECK_DEVICE=cpu (bench/gpu_check.sh's dry run, tests/bench/test_gpu_check.py)
runs the same test on the CPU at tiny sizes, so the code path is known to work
before device time is spent on it."""
import os

import pytest

pytestmark = pytest.mark.gpu

DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")
# (layers, heads, width, dtype, ids, batch, ids also generated alone)
SIZES = {"cuda": (4, 8, 512, "bfloat16", 1000, 512, 200),
         "cpu": (2, 4, 64, "float32", 8, 4, 8)}


@pytest.mark.parametrize("compile_mode", ["off", "reduce-overhead"])
@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_songs_are_identical_alone_and_in_a_full_batch_on_cuda(tmp_path, family, compile_mode):
    import torch
    if DEVICE == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from generator.compiled import compile_step
    from generator.engine import Engine, GenerationConfig
    from generator.songs import end_of_text_id, load_tokenizer
    from generator.weights import load_model
    from training.randommodel import make_random_llama, make_random_model

    layers, heads, width, dtype, count, batch, alone_count = SIZES[DEVICE]
    if family == "gpt2":
        model_dir = make_random_model(tmp_path / "m", n_layer=layers, n_head=heads, n_embd=width, end_bias=0.3)
    else:
        model_dir = make_random_llama(tmp_path / "m", n_layer=layers, n_head=heads, n_kv_head=2, hidden=width,
                                      intermediate=2 * width, tie_word_embeddings=False, end_bias=0.08)
    model = load_model(model_dir, DEVICE, dtype)
    compile_step(model, compile_mode)
    gen = GenerationConfig(eot_id=end_of_text_id(load_tokenizer(model_dir)), max_new_tokens=64)
    ids = list(range(count))
    batched = Engine(model, gen, batch).generate(ids[::-1])
    alone_engine = Engine(model, gen, batch)
    for i in ids[:alone_count]:  # each alone is a whole run of steps at the full batch
        alone = alone_engine.generate([i])[i]
        assert (alone.tokens, alone.failed) == (batched[i].tokens, batched[i].failed), i
