"""A lean GPT-2 decode step over weights saved by transformers' save_pretrained.

One token per row per step, a static preallocated KV cache, per-row positions
and attention masked to each row's own filled part of the cache. Every step
runs at max_batch rows and reads the cache blocks the furthest row has filled
(generator.attention), so one row's numerics never depend on the other rows. The model does no I/O decisions and
picks no device: the caller passes both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from generator.attention import KVCache, attend, blocks_to_read, visibility_mask

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    n_head: int
    n_embd: int
    vocab_size: int
    n_positions: int      # the longest sequence wpe has positions for
    eps: float = 1e-5     # layer norm epsilon

    @classmethod
    def from_hf(cls, config: dict) -> GPTConfig:
        # Refuse variants this step does not implement instead of computing wrong text.
        if config.get("model_type", "gpt2") != "gpt2":
            raise ValueError(f"model_type {config.get('model_type')!r} is not gpt2")
        if config.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"activation {config['activation_function']!r} is not supported")
        for flag, ok in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                         ("add_cross_attention", False)):
            if config.get(flag, ok) != ok:
                raise ValueError(f"GPT-2 option {flag}={config[flag]!r} is not supported")
        if config.get("n_inner") not in (None, 4 * config["n_embd"]):
            raise ValueError("n_inner other than 4 * n_embd is not supported")
        return cls(n_layer=config["n_layer"], n_head=config["n_head"], n_embd=config["n_embd"],
                   vocab_size=config["vocab_size"], n_positions=config["n_positions"],
                   eps=config.get("layer_norm_epsilon", 1e-5))


def expected_shapes(c: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the step needs, by its transformers name (Conv1D weights are (in, out))."""
    e = c.n_embd
    shapes = {"wte.weight": (c.vocab_size, e), "wpe.weight": (c.n_positions, e),
              "ln_f.weight": (e,), "ln_f.bias": (e,)}
    for i in range(c.n_layer):
        p = f"h.{i}."
        shapes.update({
            p + "ln_1.weight": (e,), p + "ln_1.bias": (e,),
            p + "attn.c_attn.weight": (e, 3 * e), p + "attn.c_attn.bias": (3 * e,),
            p + "attn.c_proj.weight": (e, e), p + "attn.c_proj.bias": (e,),
            p + "ln_2.weight": (e,), p + "ln_2.bias": (e,),
            p + "mlp.c_fc.weight": (e, 4 * e), p + "mlp.c_fc.bias": (4 * e,),
            p + "mlp.c_proj.weight": (4 * e, e), p + "mlp.c_proj.bias": (e,),
        })
    return shapes


def check_names_and_shapes(state: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]],
                           family: str) -> None:
    """Raises ValueError naming missing, unexpected or mis-shaped tensors."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"weights do not match the {family} config: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise ValueError(f"{name}: shape {tuple(state[name].shape)}, expected {shape}")


def check_weights(c: GPTConfig, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the ``transformer.`` prefix and check every name and shape, failing loudly."""
    state = {k.removeprefix("transformer."): v for k, v in state.items()}
    lm_head = state.pop("lm_head.weight", None)
    # Causal-mask buffers of old checkpoints carry no weights.
    state = {k: v for k, v in state.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}
    check_names_and_shapes(state, expected_shapes(c), "GPT-2")
    if lm_head is not None and tuple(lm_head.shape) != (c.vocab_size, c.n_embd):
        raise ValueError(f"lm_head.weight: shape {tuple(lm_head.shape)}")
    if lm_head is not None:
        state["lm_head.weight"] = lm_head
    return state


class GPT:
    family = "gpt2"

    def __init__(self, config: GPTConfig, weights: dict[str, torch.Tensor]):
        self.config = config
        self.w = weights
        self.lm_head = weights.get("lm_head.weight", weights["wte.weight"])  # tied unless saved apart
        self.device = weights["wte.weight"].device
        self.dtype = weights["wte.weight"].dtype

    def new_cache(self, batch: int, length: int) -> KVCache:
        if length > self.config.n_positions:
            raise ValueError(f"cache length {length} exceeds the model's {self.config.n_positions} positions")
        c = self.config
        return KVCache(c.n_layer, batch, c.n_head, length, c.n_embd // c.n_head, self.device, self.dtype)

    def _ln(self, x, name):
        return F.layer_norm(x, (self.config.n_embd,), self.w[name + ".weight"], self.w[name + ".bias"],
                            self.config.eps)

    def _linear(self, x, name):
        return torch.addmm(self.w[name + ".bias"], x, self.w[name + ".weight"])  # Conv1D: x @ W + b

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, pos: torch.Tensor, cache: KVCache, furthest: int | None = None
             ) -> torch.Tensor:
        """tokens, pos (B,) int64 -> logits (B, V) float32; writes row b's K/V at pos[b].
        ``furthest``: max(pos) if the caller knows it without a device sync
        (attention then reads only the blocks up to it); None reads them all."""
        c = self.config
        B, nh, hs = tokens.shape[0], c.n_head, c.n_embd // c.n_head
        mask = visibility_mask(pos, blocks_to_read(furthest, cache))                        # (n, B, 1, 1, BLOCK)
        slots = cache.slots(pos)
        scale = 1.0 / math.sqrt(hs)
        x = self.w["wte.weight"][tokens] + self.w["wpe.weight"][pos]                          # (B, C)
        for i in range(c.n_layer):
            p = f"h.{i}."
            qkv = self._linear(self._ln(x, p + "ln_1"), p + "attn.c_attn")                   # (B, 3C)
            q, k, v = qkv.view(B, 3, nh, hs).unbind(1)                                        # (B, nh, hs)
            cache.write(i, slots, k, v)
            # Scaling q (hs numbers) is cheaper than scaling the scores.
            y = attend((q * scale)[:, :, None, :], cache, i, mask).reshape(B, c.n_embd)       # (B, C)
            x = x + self._linear(y, p + "attn.c_proj")
            h = F.gelu(self._linear(self._ln(x, p + "ln_2"), p + "mlp.c_fc"), approximate="tanh")
            x = x + self._linear(h, p + "mlp.c_proj")
        return (self._ln(x, "ln_f") @ self.lm_head.T).float()                                # (B, V)


def load_gpt2(model_dir: str | Path, device: str | torch.device = "cpu", dtype: str = "float32") -> GPT:
    """Load a save_pretrained GPT-2 directory (config.json + *.safetensors)."""
    from generator.weights import load_model

    model = load_model(model_dir, device, dtype)
    if not isinstance(model, GPT):
        raise ValueError(f"{model_dir} is not a GPT-2 model")
    return model
