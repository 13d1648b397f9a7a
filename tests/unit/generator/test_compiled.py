"""GENERATOR_COMPILE on the CPU (generator.compiled): the compiled decode step
gives the eager step's logits to within float32 rounding, compiles one graph per
cache block count (not one per position) even past Dynamo's recompile limit, and
keeps the engine's invariant: a song is byte-identical alone and in a batch.

Sizes are the smallest that cross a block boundary (2 blocks of 64 positions):
each graph takes seconds to compile on a CPU (about 14 s and 4 s for the tiny
GPT-2, 8 s and 5 s for the tiny Llama on this machine's cores)."""
import dataclasses

import pytest
import torch
from torch._dynamo.utils import counters

from billionsongs.common.settings import SettingsError
from generator.compiled import compile_step
from generator.runtime import load_runtime
from generator.settings import GeneratorSettings
from generator.weights import load_model

BATCH = 8
NEW_TOKENS = 64  # + the titled prompt's 2 tokens - 1: a 65-position cache, 2 blocks


def graphs() -> int:
    """Graphs Dynamo has compiled in this process so far."""
    return counters["stats"]["unique_graphs"]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_the_compiled_step_gives_the_eager_logits_with_one_graph_per_block_count(family, generator_model_dirs):
    torch.set_num_threads(1)
    # A limit of 1 would make Dynamo fall back to eager at the second block
    # count: compile_step must raise it to the cache's block count. (Not
    # monkeypatch: deleting a Dynamo config attribute hides it for good.)
    with torch._dynamo.config.patch(recompile_limit=1):
        check_compiled_against_eager(generator_model_dirs[family])


def check_compiled_against_eager(model_dir):
    eager = load_model(model_dir)
    compiled = load_model(model_dir)
    step = compile_step(compiled, "default")
    assert compiled.step is step and eager.step.__func__ is type(eager).step  # only that instance changed
    eager_cache, compiled_cache = eager.new_cache(BATCH, NEW_TOKENS + 1), compiled.new_cache(BATCH, NEW_TOKENS + 1)
    assert compiled_cache.blocks == 2
    before = graphs()
    # Rows at different positions (row b is b positions behind row 0), the
    # furthest row crossing from block 0 into block 1.
    lag = torch.arange(BATCH)
    generator = torch.Generator().manual_seed(0)
    for t in range(NEW_TOKENS + 1):
        tokens = torch.randint(0, eager.config.vocab_size, (BATCH,), generator=generator)
        pos = (t - lag).clamp(min=0)
        want = eager.step(tokens, pos, eager_cache, t)
        got = step(tokens, pos, compiled_cache, t)
        assert got.dtype == torch.float32 and got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=f"step {t}")
    assert graphs() - before == 2  # one per block count read, none per position
    assert torch._dynamo.config.recompile_limit >= compiled_cache.blocks


def test_compile_off_leaves_the_eager_step_and_a_bad_mode_is_refused(generator_model_dir):
    model = load_model(generator_model_dir)
    assert compile_step(model, "off") == model.step and "step" not in vars(model)
    with pytest.raises(ValueError, match="fast"):
        compile_step(model, "fast")


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_compiled_songs_are_identical_alone_and_in_a_batch(family, generator_model_dirs, generator_settings):
    settings = dataclasses.replace(generator_settings, model_dir=str(generator_model_dirs[family]),
                                   max_batch=BATCH, max_new_tokens=NEW_TOKENS, compile="default")
    runtime = load_runtime(settings)
    assert "step" in vars(runtime.engine.model)  # the compiled step, set on the instance
    ids = [0, 1, 7, 2**64 - 1, 1000, 1001, 1002, 1003, 1004, 1005, 1006]  # more ids than rows
    before = graphs()
    batched = runtime.engine.generate(ids)
    assert any(len(f.tokens) >= NEW_TOKENS - 1 for f in batched.values())  # some songs reach the second block
    alone = {i: runtime.engine.generate([i])[i] for i in ids}
    # The engine's own inputs (tokens from the sampler, positions) compile no
    # more graphs than the block counts (none if an earlier test made them).
    assert graphs() - before <= runtime.engine.cache.blocks
    assert {i: (f.tokens, f.failed) for i, f in alone.items()} == \
        {i: (f.tokens, f.failed) for i, f in batched.items()}


def test_compile_mode_from_the_environment():
    assert GeneratorSettings.from_env({}).compile == "off"
    for mode in ("off", "default", "reduce-overhead"):
        assert GeneratorSettings.from_env({"GENERATOR_COMPILE": mode}).compile == mode
    with pytest.raises(SettingsError, match="GENERATOR_COMPILE"):
        GeneratorSettings.from_env({"GENERATOR_COMPILE": "max-autotune"})
