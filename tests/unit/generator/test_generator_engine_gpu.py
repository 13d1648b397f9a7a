"""Invariant 1 on CUDA (run through the device tool: `pytest -m gpu`): each id
byte-identical alone and inside a full batch, in bf16 at the production shape."""
import pytest

pytestmark = pytest.mark.gpu


def test_songs_are_identical_alone_and_in_a_full_batch_on_cuda(tmp_path):
    import torch
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from generator.engine import Engine, GenerationConfig
    from generator.model import load_gpt2
    from generator.randommodel import make_random_model
    from generator.songs import end_of_text_id, load_tokenizer

    model_dir = make_random_model(tmp_path / "m", n_layer=4, n_head=8, n_embd=512, end_bias=0.3)
    model = load_gpt2(model_dir, "cuda", "bfloat16")
    gen = GenerationConfig(eot_id=end_of_text_id(load_tokenizer(model_dir)), max_new_tokens=64)
    ids = list(range(1000))
    batched = Engine(model, gen, 512).generate(ids[::-1])
    alone_engine = Engine(model, gen, 512)
    for i in ids:
        alone = alone_engine.generate([i])[i]
        assert (alone.tokens, alone.failed) == (batched[i].tokens, batched[i].failed), i
