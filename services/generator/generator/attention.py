"""The static KV cache in blocks, and decode attention that reads only the
blocks some row has filled, with the same numbers whatever the other rows hold.

A step's attention used to read every row's whole cache (``max_new_tokens`` +
prompt positions, 773 for the bundled model) even when every song was a few
lines in. Here the cache is cut into blocks of ``BLOCK`` positions and a step
reads the first ``n`` blocks, ``n`` set by the furthest row of the batch
(``blocks_to_read``). So that a row's result does not depend on ``n`` (that is,
on the other rows), every reduction that crosses positions has a fixed shape
or is exact in any order:

* scores: one dot product of ``head_dim`` numbers per position (a fixed-size
  reduction), block by block;
* the softmax maximum: exact in any order;
* the softmax sum and the weighted sum of values: each block reduced on its
  own (``BLOCK`` positions, a fixed shape), then the per-block results summed
  over *all* ``cache.blocks`` blocks, the unread ones as exact zeros, so that
  sum too always has the same shape.

Positions past a row's own are masked to -inf, weigh exactly 0, and add
exactly 0 to its sums: a row alone and the same row beside a longer one give
identical bits (tests/unit/generator/test_attention.py). This is the split-KV
scheme of Flash-Decoding (Dao et al. 2023,
https://pytorch.org/blog/flash-decoding/) with fixed split boundaries, as
batch-invariant kernels require (He et al. 2025, "Defeating Nondeterminism in
LLM Inference", Thinking Machines Lab).
"""
from __future__ import annotations

import torch

BLOCK = 64  # cache positions per block: a multiple of every SIMD width, small enough to skip most of an empty cache


class KVCache:
    """Keys and values of every row, allocated once, in blocks:
    ``k``, ``v``: (n_layer, blocks, B, n_kv_head, BLOCK, head_dim).

    ``length`` is the positions a song may use (at most the model's); the
    allocation rounds it up to whole blocks."""

    def __init__(self, n_layer: int, batch: int, n_kv_head: int, length: int, head_dim: int, device, dtype):
        self.length, self.batch, self.heads = length, batch, n_kv_head
        self.blocks = -(-length // BLOCK)
        shape = (n_layer, self.blocks, batch, n_kv_head, BLOCK, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self._layers = torch.arange(n_layer, device=device)                                # indexed: no host copy
        self._rows = torch.arange(batch, device=device)[:, None]                           # (B, 1)
        self._heads = torch.arange(n_kv_head, device=device)[None, :]                      # (1, H)

    def slots(self, pos: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """pos (B,) int64 -> the indices (block, row, head, offset), broadcasting
        to (B, H), of where row b, head h writes its key/value for position pos[b]."""
        return (pos // BLOCK)[:, None], self._rows, self._heads, (pos % BLOCK)[:, None]

    def write(self, layer: int, slots: tuple[torch.Tensor, ...], k: torch.Tensor, v: torch.Tensor) -> None:
        """k, v (B, H, head_dim): this step's key and value of every row and head.

        One index_put_ on the whole cache tensor, not on a view of one layer: the
        same values land in the same places, but torch.compile (generator.
        compiled) then updates the cache in place, where a write through a view
        made it copy every layer's whole cache at every step (5 times slower)."""
        index = (self._layers[layer], *slots)
        self.k.index_put_(index, k)
        self.v.index_put_(index, v)


def blocks_to_read(furthest: int | None, cache: KVCache) -> int:
    """Blocks a step reads when its furthest row sits at position ``furthest``
    (None: all of them). Raises ValueError past the cache."""
    if furthest is None:
        return cache.blocks
    if not 0 <= furthest < cache.blocks * BLOCK:
        raise ValueError(f"position {furthest} is outside the cache's {cache.blocks * BLOCK} positions")
    return furthest // BLOCK + 1


def visibility_mask(pos: torch.Tensor, blocks: int) -> torch.Tensor:
    """pos (B,) -> (blocks, B, 1, 1, BLOCK) float32: 0 where row b may attend
    (positions 0..pos[b]: its own song), -inf elsewhere (later positions hold
    an earlier song's stale keys or nothing)."""
    positions = torch.arange(blocks * BLOCK, device=pos.device).view(blocks, 1, 1, 1, BLOCK)
    visible = positions <= pos.view(1, -1, 1, 1, 1)
    return torch.zeros(visible.shape, device=pos.device).masked_fill_(~visible, float("-inf"))


def _sum_blocks(parts: torch.Tensor, blocks: int) -> torch.Tensor:
    """(n, ...) -> (...): the sum over all ``blocks`` blocks, the n read ones
    followed by exact zeros, so the reduction has one shape at every step."""
    if parts.shape[0] < blocks:
        parts = torch.cat([parts, parts.new_zeros((blocks - parts.shape[0], *parts.shape[1:]))])
    return parts.sum(0)


def attend(q: torch.Tensor, cache: KVCache, layer: int, mask: torch.Tensor) -> torch.Tensor:
    """Decode attention of one layer over the first ``mask.shape[0]`` blocks.

    q: (B, H, G, head_dim), already scaled by 1/sqrt(head_dim), in the cache's
    dtype; G query heads share each key/value head (grouped-query attention,
    Ainslie et al. 2023, arXiv:2305.13245; G = 1 is multi-head attention).
    mask: visibility_mask(pos, n). Returns (B, H, G, head_dim) in q's dtype.
    The softmax is computed in float32, as transformers does."""
    B, H, G, D = q.shape
    n = mask.shape[0]
    keys = cache.k[layer, :n].view(n * B * H, BLOCK, D)      # the first n blocks are contiguous
    values = cache.v[layer, :n].view(n * B * H, BLOCK, D)
    queries = q.expand(n, B, H, G, D).reshape(n * B * H, G, D)
    scores = torch.bmm(queries, keys.transpose(1, 2)).view(n, B, H, G, BLOCK).float() + mask
    weights = torch.exp(scores - scores.amax(dim=(0, 4), keepdim=True))                   # (n, B, H, G, BLOCK)
    total = _sum_blocks(weights.sum(-1, keepdim=True), cache.blocks)                      # (B, H, G, 1)
    mixed = torch.bmm(weights.to(q.dtype).view(n * B * H, G, BLOCK), values).view(n, B, H, G, D)
    return (_sum_blocks(mixed.float(), cache.blocks) / total).to(q.dtype)
