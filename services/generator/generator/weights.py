"""Loading a model directory into the engine's decode step.

A model directory is either a plain ``save_pretrained`` directory (config.json
and *.safetensors) of the GPT-2 or Llama family, or a LoRA adapter saved by
peft (adapter_config.json and adapter_model.safetensors) whose
``base_model_name_or_path`` names a plain directory under the base-model folder
(``GENERATOR_BASE_MODELS_DIR``; ``make base-model`` fills it). An adapter is
merged into its base once, here, through peft's ``merge_and_unload``; the decode
step then runs plain weights.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from generator.llama import Llama, LlamaConfig
from generator.llama import check_weights as check_llama
from generator.model import DTYPES, GPT, GPTConfig
from generator.model import check_weights as check_gpt2
from generator.modeldir import base_model_dir, is_adapter


def _read_safetensors(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors weights in {model_dir}")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    return state


def _merged_state(adapter_dir: Path, base_dir: Path) -> dict[str, torch.Tensor]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    return {k: v.detach() for k, v in merged.state_dict().items()}


def load_model(model_dir: str | Path, device: str | torch.device = "cpu", dtype: str = "float32",
               base_models_dir: str | Path | None = None) -> GPT | Llama:
    """The decode step for ``model_dir``, its family chosen by config.json's model_type.

    Raises FileNotFoundError (no weights, no base), ValueError (an architecture or
    tensor the step does not implement, named)."""
    model_dir = Path(model_dir)
    if is_adapter(model_dir):
        base = base_model_dir(model_dir, base_models_dir)
        config = json.loads((base / "config.json").read_text())
        state = _merged_state(model_dir, base)
    else:
        if not (model_dir / "config.json").exists():
            raise FileNotFoundError(f"{model_dir} is not a save_pretrained model directory (no config.json)")
        config = json.loads((model_dir / "config.json").read_text())
        state = _read_safetensors(model_dir)
    family = config.get("model_type", "gpt2")
    torch_dtype = DTYPES[dtype]
    if family == "gpt2":
        gpt_config = GPTConfig.from_hf(config)
        weights = {k: v.to(device=device, dtype=torch_dtype).contiguous()
                   for k, v in check_gpt2(gpt_config, state).items()}
        return GPT(gpt_config, weights)
    if family == "llama":
        llama_config = LlamaConfig.from_hf(config)
        return Llama(llama_config, check_llama(llama_config, state), device, torch_dtype)
    raise ValueError(f"model_type {family!r} is not supported (gpt2 or llama)")
