"""A lean Llama-family decode step over weights saved by save_pretrained.

The same contract as the GPT-2 step (model.py): one token per row per step, a
static preallocated KV cache, per-row positions, attention masked to each row's
own filled part of the cache, max_batch rows at every step and attention that
reads only the filled cache blocks (generator.attention), so one row's numerics
never depend on the other rows.

The architecture, as transformers' ``modeling_llama`` computes it (Touvron et
al. 2023, arXiv:2302.13971): RMSNorm before attention and MLP (computed in
float32, as transformers does), rotary position embeddings on queries and keys
(Su et al. 2021, arXiv:2104.09864; transformers' "rotate half" layout, default
rope type only), grouped-query attention (query head h reads key/value head
h // (n_head / n_kv_head)), a SwiGLU MLP ``down(silu(gate(x)) * up(x))``, and an
output head tied to the embedding unless ``lm_head.weight`` is saved.

At load, q/k/v and gate/up are concatenated and every matrix is stored
transposed, so a step is a few large ``x @ W`` products.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generator.attention import KVCache, attend, blocks_to_read, visibility_mask
from generator.model import check_names_and_shapes


@dataclass(frozen=True)
class LlamaConfig:
    n_layer: int
    n_head: int
    n_kv_head: int
    head_dim: int
    n_embd: int
    intermediate: int
    vocab_size: int
    n_positions: int          # max_position_embeddings
    eps: float                # rms_norm_eps
    rope_theta: float
    tie_word_embeddings: bool

    @classmethod
    def from_hf(cls, config: dict) -> LlamaConfig:
        """Read a transformers LlamaConfig (config.json); refuse what the step does not compute."""
        if config.get("model_type") != "llama":
            raise ValueError(f"model_type {config.get('model_type')!r} is not llama")
        if config.get("hidden_act", "silu") != "silu":
            raise ValueError(f"activation {config['hidden_act']!r} is not supported")
        for flag in ("attention_bias", "mlp_bias"):
            if config.get(flag, False):
                raise ValueError(f"Llama option {flag}=true is not supported")
        if config.get("pretraining_tp", 1) != 1:
            raise ValueError("pretraining_tp other than 1 is not supported")
        rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type != "default":
            raise ValueError(f"rope_type {rope_type!r} is not supported (only 'default')")
        theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
        n_head = config["num_attention_heads"]
        n_kv = config.get("num_key_value_heads") or n_head
        if n_head % n_kv:
            raise ValueError(f"{n_head} attention heads are not a multiple of {n_kv} key/value heads")
        width = config["hidden_size"]
        return cls(n_layer=config["num_hidden_layers"], n_head=n_head, n_kv_head=n_kv,
                   head_dim=config.get("head_dim") or width // n_head, n_embd=width,
                   intermediate=config["intermediate_size"], vocab_size=config["vocab_size"],
                   n_positions=config.get("max_position_embeddings", 2048),
                   eps=float(config.get("rms_norm_eps", 1e-6)), rope_theta=float(theta),
                   tie_word_embeddings=bool(config.get("tie_word_embeddings", False)))


def expected_shapes(c: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the step needs, by its transformers name (nn.Linear weights are (out, in))."""
    e, q, kv, m = c.n_embd, c.n_head * c.head_dim, c.n_kv_head * c.head_dim, c.intermediate
    shapes = {"model.embed_tokens.weight": (c.vocab_size, e), "model.norm.weight": (e,)}
    for i in range(c.n_layer):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (e,), p + "post_attention_layernorm.weight": (e,),
            p + "self_attn.q_proj.weight": (q, e), p + "self_attn.k_proj.weight": (kv, e),
            p + "self_attn.v_proj.weight": (kv, e), p + "self_attn.o_proj.weight": (e, q),
            p + "mlp.gate_proj.weight": (m, e), p + "mlp.up_proj.weight": (m, e),
            p + "mlp.down_proj.weight": (e, m),
        })
    return shapes


def check_weights(c: LlamaConfig, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Check every name and shape, failing loudly; returns the state with ``lm_head.weight``
    (the embedding when tied and not saved apart).

    Raises ValueError naming missing, unexpected or mis-shaped tensors."""
    state = dict(state)
    lm_head = state.pop("lm_head.weight", None)
    state = {k: v for k, v in state.items() if not k.endswith("rotary_emb.inv_freq")}  # old checkpoints
    check_names_and_shapes(state, expected_shapes(c), "Llama")
    if lm_head is None:
        if not c.tie_word_embeddings:
            raise ValueError("lm_head.weight is missing and tie_word_embeddings is false")
        lm_head = state["model.embed_tokens.weight"]
    if tuple(lm_head.shape) != (c.vocab_size, c.n_embd):
        raise ValueError(f"lm_head.weight: shape {tuple(lm_head.shape)}")
    state["lm_head.weight"] = lm_head
    return state


def rope_tables(c: LlamaConfig, length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (length, head_dim) float32 for positions 0..length-1, in transformers'
    layout: frequency j at columns j and j + head_dim/2."""
    inv_freq = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.float32) / c.head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)     # (T, hd/2)
    angles = torch.cat([angles, angles], dim=-1)                                  # (T, hd)
    return angles.cos().to(device), angles.sin().to(device)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Llama:
    family = "llama"

    def __init__(self, config: LlamaConfig, state: dict[str, torch.Tensor], device, dtype: torch.dtype):
        """``state``: checked transformers weights (check_weights), any device and dtype."""
        self.config = c = config
        self.device, self.dtype = torch.device(device), dtype

        def put(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype).contiguous()

        self.embed = put(state["model.embed_tokens.weight"])                       # (V, C)
        self.lm_head_t = put(state["lm_head.weight"].T)                              # (C, V)
        self.norm = put(state["model.norm.weight"])
        self.layers = []
        for i in range(c.n_layer):
            p = f"model.layers.{i}."
            w = lambda n: state[p + n]  # noqa: E731
            self.layers.append({
                "ln1": put(w("input_layernorm.weight")), "ln2": put(w("post_attention_layernorm.weight")),
                "qkv": put(torch.cat([w("self_attn.q_proj.weight"), w("self_attn.k_proj.weight"),
                                      w("self_attn.v_proj.weight")]).T),              # (C, (nh+2nkv)*hd)
                "o": put(w("self_attn.o_proj.weight").T),                             # (nh*hd, C)
                "gate_up": put(torch.cat([w("mlp.gate_proj.weight"), w("mlp.up_proj.weight")]).T),  # (C, 2M)
                "down": put(w("mlp.down_proj.weight").T),                             # (M, C)
            })
        self._rope_len = 0

    def new_cache(self, batch: int, length: int) -> KVCache:
        """Raises ValueError when ``length`` exceeds the model's positions."""
        c = self.config
        if length > c.n_positions:
            raise ValueError(f"cache length {length} exceeds the model's {c.n_positions} positions")
        if length > self._rope_len:
            self.cos, self.sin = rope_tables(c, length, self.device)
            self._rope_len = length
        return KVCache(c.n_layer, batch, c.n_kv_head, length, c.head_dim, self.device, self.dtype)

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # As transformers' LlamaRMSNorm: the statistics in float32, then the weight.
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.config.eps)
        return weight * h.to(self.dtype)

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, pos: torch.Tensor, cache: KVCache, furthest: int | None = None
             ) -> torch.Tensor:
        """tokens, pos (B,) int64 -> logits (B, V) float32; writes row b's K/V at pos[b].
        ``furthest``: max(pos) if the caller knows it without a device sync
        (attention then reads only the blocks up to it); None reads them all."""
        c = self.config
        B, nh, nkv, hd = tokens.shape[0], c.n_head, c.n_kv_head, c.head_dim
        group = nh // nkv
        mask = visibility_mask(pos, blocks_to_read(furthest, cache))                        # (n, B, 1, 1, BLOCK)
        slots = cache.slots(pos)
        cos, sin = self.cos[pos][:, None, :], self.sin[pos][:, None, :]                        # (B, 1, hd)
        scale = 1.0 / math.sqrt(hd)
        x = self.embed[tokens]                                                                  # (B, C)
        for i, L in enumerate(self.layers):
            qkv = self._rms(x, L["ln1"]) @ L["qkv"]                                             # (B, (nh+2nkv)hd)
            q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], dim=-1)
            q, k, v = q.view(B, nh, hd), k.view(B, nkv, hd), v.view(B, nkv, hd)
            # Rotary embedding in float32, as transformers applies it to float32 tables.
            q = (q.float() * cos + _rotate_half(q.float()) * sin).to(self.dtype)
            k = (k.float() * cos + _rotate_half(k.float()) * sin).to(self.dtype)
            cache.write(i, slots, k, v)
            # Query heads grouped by the key/value head they read: (B, nkv, group, hd).
            y = attend((q * scale).view(B, nkv, group, hd), cache, i, mask).reshape(B, nh * hd)
            x = x + y @ L["o"]
            gate, up = (self._rms(x, L["ln2"]) @ L["gate_up"]).chunk(2, dim=-1)                # (B, M) each
            x = x + (F.silu(gate) * up) @ L["down"]
        return (self._rms(x, self.norm) @ self.lm_head_t).float()                              # (B, V)
