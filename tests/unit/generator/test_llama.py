"""The Llama-family decode step against transformers' own LlamaForCausalLM on
the same weights, and LoRA adapters merged at load."""
import json

import pytest
import torch
from safetensors.torch import load_file

from generator.llama import LlamaConfig, check_weights
from generator.weights import base_model_dir, load_model
from training.randommodel import make_random_llama


def step_through(model, seqs, offsets, length=16):
    """Feed (R, S) sequences with row r starting offsets[r] steps late; logits per (row, index)."""
    cache = model.new_cache(len(seqs), length)
    rows, S = len(seqs), seqs.shape[1]
    out = {}
    for step in range(S + max(offsets)):
        pos = torch.tensor([max(0, min(step - o, S - 1)) for o in offsets])
        logits = model.step(seqs[torch.arange(rows), pos], pos, cache)
        for r, o in enumerate(offsets):
            if 0 <= step - o < S:
                out[r, step - o] = logits[r]
    return out


@pytest.mark.parametrize("tied,n_kv_head", [(True, 2), (False, 1), (False, 4)])
def test_step_matches_transformers_llama(tmp_path, tied, n_kv_head):
    from transformers import LlamaForCausalLM

    d = make_random_llama(tmp_path / "m", n_head=4, n_kv_head=n_kv_head, tie_word_embeddings=tied)
    model = load_model(d)
    hf = LlamaForCausalLM.from_pretrained(d).eval()
    torch.manual_seed(0)
    seqs = torch.randint(0, model.config.vocab_size, (3, 12))
    with torch.no_grad():
        expected = hf(seqs).logits                                          # (3, 12, V)
    got = step_through(model, seqs, [0, 4, 8])
    assert len(got) == 36
    for (r, i), logits in got.items():
        torch.testing.assert_close(logits, expected[r, i], atol=1e-4, rtol=1e-4)


def test_llama_weights_with_a_wrong_name_or_shape_fail_loudly(generator_llama_dir):
    config = LlamaConfig.from_hf(json.loads((generator_llama_dir / "config.json").read_text()))
    state = load_file(str(generator_llama_dir / "model.safetensors"))
    check_weights(config, dict(state))
    with pytest.raises(ValueError, match="missing"):
        check_weights(config, {k: v for k, v in state.items() if "layers.1.mlp.up_proj" not in k})
    wrong = dict(state)
    wrong["model.layers.0.self_attn.k_proj.weight"] = wrong["model.layers.0.self_attn.q_proj.weight"]
    with pytest.raises(ValueError, match="shape"):
        check_weights(config, wrong)
    untied = {k: v for k, v in state.items() if k != "lm_head.weight"}
    with pytest.raises(ValueError, match="lm_head"):
        check_weights(config, untied)  # the fixture's head is not tied: it must be saved


def test_unsupported_llama_configs_are_refused(generator_llama_dir):
    base = json.loads((generator_llama_dir / "config.json").read_text())
    LlamaConfig.from_hf(base)
    for change in ({"hidden_act": "gelu"}, {"attention_bias": True}, {"mlp_bias": True},
                   {"rope_parameters": {"rope_type": "llama3", "rope_theta": 1e4}},
                   {"num_key_value_heads": 3}, {"model_type": "mistral"}):
        with pytest.raises(ValueError):
            LlamaConfig.from_hf({**base, **change})


def test_a_lora_adapter_is_merged_into_its_base_at_load(tmp_path, generator_llama_dir):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    bases = tmp_path / "bases"
    base = make_random_llama(bases / "tiny-base", n_head=4, n_kv_head=2)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                                LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "tiny-base"  # a name under the base-model folder, as train.py writes
    (adapter / "adapter_config.json").write_text(json.dumps(config))

    assert base_model_dir(adapter, bases) == base
    model = load_model(adapter, base_models_dir=bases)
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    plain = load_model(base)
    seqs = torch.randint(0, model.config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(seqs).logits
    got = step_through(model, seqs, [0, 2])
    without = step_through(plain, seqs, [0, 2])
    for (r, i), logits in got.items():
        torch.testing.assert_close(logits, expected[r, i], atol=1e-4, rtol=1e-4)
    # The adapter changes the output: the test would notice an unmerged base.
    assert max((got[k] - without[k]).abs().max().item() for k in got) > 1e-3


def test_an_adapter_without_its_base_says_how_to_make_it(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "not-there"}))
    with pytest.raises(FileNotFoundError, match="make base-model"):
        load_model(tmp_path, base_models_dir=tmp_path / "bases")
