"""Invariant 1 on CUDA (run through the device tool: `pytest -m gpu`, or
bench/gpu_check.sh): each of 1,000 ids byte-identical alone and inside a full
batch, in bf16 at the production shape, for both families the engine serves."""
import pytest

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_songs_are_identical_alone_and_in_a_full_batch_on_cuda(tmp_path, family):
    import torch
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from generator.engine import Engine, GenerationConfig
    from generator.songs import end_of_text_id, load_tokenizer
    from generator.weights import load_model
    from training.randommodel import make_random_llama, make_random_model

    if family == "gpt2":
        model_dir = make_random_model(tmp_path / "m", n_layer=4, n_head=8, n_embd=512, end_bias=0.3)
    else:
        model_dir = make_random_llama(tmp_path / "m", n_layer=4, n_head=8, n_kv_head=2, hidden=512,
                                      intermediate=1024, tie_word_embeddings=False, end_bias=0.08)
    model = load_model(model_dir, "cuda", "bfloat16")
    gen = GenerationConfig(eot_id=end_of_text_id(load_tokenizer(model_dir)), max_new_tokens=64)
    ids = list(range(1000))
    batched = Engine(model, gen, 512).generate(ids[::-1])
    alone_engine = Engine(model, gen, 512)
    for i in ids:
        alone = alone_engine.generate([i])[i]
        assert (alone.tokens, alone.failed) == (batched[i].tokens, batched[i].failed), i
