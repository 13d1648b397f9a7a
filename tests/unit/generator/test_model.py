import pytest
import torch
from safetensors.torch import load_file, save_file

from generator.model import GPTConfig, check_weights, load_gpt2


def test_step_matches_transformers_with_rows_at_different_positions(generator_model_dir):
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    model = load_gpt2(generator_model_dir)
    hf = GPT2LMHeadModel.from_pretrained(generator_model_dir).eval()
    seqs = torch.randint(0, model.config.vocab_size, (3, 12))
    with torch.no_grad():
        expected = hf(seqs).logits                                  # (3, 12, V)
    cache = model.new_cache(3, 16)
    offsets = [0, 4, 8]  # row r starts 4*r steps late: rows sit at different positions
    for step in range(12 + 8):
        pos = torch.tensor([max(0, min(step - o, 11)) for o in offsets])
        logits = model.step(seqs[torch.arange(3), pos], pos, cache)
        for r, o in enumerate(offsets):
            if 0 <= step - o < 12:
                torch.testing.assert_close(logits[r], expected[r, step - o], atol=1e-4, rtol=1e-4)


def test_weights_with_a_wrong_name_or_shape_fail_loudly(generator_model_dir):
    import json
    config = GPTConfig.from_hf(json.loads((generator_model_dir / "config.json").read_text()))
    state = load_file(str(generator_model_dir / "model.safetensors"))
    check_weights(config, dict(state))
    missing = {k: v for k, v in state.items() if "h.1.mlp.c_fc.weight" not in k}
    with pytest.raises(ValueError, match="missing"):
        check_weights(config, missing)
    wrong = dict(state)
    name = next(k for k in state if k.endswith("h.0.attn.c_attn.weight"))
    wrong[name] = wrong[name].T.contiguous()  # an nn.Linear layout instead of Conv1D
    with pytest.raises(ValueError, match="shape"):
        check_weights(config, wrong)


def test_unsupported_configs_are_refused():
    base = {"n_layer": 1, "n_head": 1, "n_embd": 8, "vocab_size": 10, "n_positions": 8}
    GPTConfig.from_hf(base)
    with pytest.raises(ValueError):
        GPTConfig.from_hf({**base, "activation_function": "relu"})
    with pytest.raises(ValueError):
        GPTConfig.from_hf({**base, "model_type": "llama"})


def test_missing_weights_file(tmp_path, generator_model_dir):
    (tmp_path / "config.json").write_text((generator_model_dir / "config.json").read_text())
    with pytest.raises(FileNotFoundError):
        load_gpt2(tmp_path)
    save_file({"x": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError):
        load_gpt2(tmp_path)
