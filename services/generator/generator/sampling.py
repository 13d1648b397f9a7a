"""Counter-based sampling: the noise for song s at step t is a pure function
of (s, t, token), so a song never depends on what else ran before or beside it.

No torch global RNG and no Generator objects: a splitmix64-style integer hash
computed with int64 tensor ops on the model's device, turned into Gumbel noise.
Gumbel-max over the top-k logits samples exactly from softmax(top-k / T), with
no host sync (gpt-fast uses the equivalent exponential trick).
"""
from __future__ import annotations

import torch


def _s64(x: int) -> int:
    """An unsigned 64-bit constant as the signed int64 torch stores."""
    return x - (1 << 64) if x >= (1 << 63) else x


GOLDEN = _s64(0x9E3779B97F4A7C15)
MIX1 = _s64(0xBF58476D1CE4E5B9)
MIX2 = _s64(0x94D049BB133111EB)


def _shr(x: torch.Tensor, n: int) -> torch.Tensor:
    # int64 >> is arithmetic; mask off the copied sign bits for a logical shift.
    return (x >> n) & ((1 << (64 - n)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on int64 tensors (multiplication wraps mod 2^64)."""
    x = (x ^ _shr(x, 30)) * MIX1
    x = (x ^ _shr(x, 27)) * MIX2
    return x ^ _shr(x, 31)


def counter_bits(song_ids: torch.Tensor, steps: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """64 random bits per (song, step, token); broadcastable int64 inputs."""
    h = mix64(song_ids + GOLDEN)
    h = mix64(h + (steps + 1) * GOLDEN)
    return mix64(h + (tokens + 1) * GOLDEN)


def uniform(bits: torch.Tensor) -> torch.Tensor:
    """The top 24 bits as float32 in the open interval (0, 1), exactly representable."""
    return (_shr(bits, 40).to(torch.float32) + 0.5) * (1.0 / (1 << 24))


def gumbel(song_ids: torch.Tensor, steps: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return -torch.log(-torch.log(uniform(counter_bits(song_ids, steps, tokens))))


def sample(logits: torch.Tensor, song_ids: torch.Tensor, steps: torch.Tensor,
           top_k: int, temperature: float) -> torch.Tensor:
    """Next token per row. logits (B, V); song_ids, steps (B,) int64 -> (B,) int64."""
    values, indices = torch.topk(logits.float(), min(top_k, logits.shape[-1]), dim=-1)  # (B, k)
    # Noise keyed by token id (not rank), so tie order inside topk cannot matter.
    noise = gumbel(song_ids[:, None], steps[:, None], indices)
    choice = torch.argmax(values / temperature + noise, dim=-1, keepdim=True)          # (B, 1)
    return indices.gather(-1, choice).squeeze(-1)


def song_id_to_int64(song_id: int) -> int:
    """uint64 song id -> the int64 with the same bits (torch has no uint64 arithmetic)."""
    if not 0 <= song_id < (1 << 64):
        raise ValueError(f"song id {song_id} is not a uint64")
    return _s64(song_id)


def banned_by_ngrams(history: torch.Tensor, pos: torch.Tensor, n: int, vocab: int) -> torch.Tensor:
    """Tokens that would repeat an n-gram already in the row's song (transformers'
    ``no_repeat_ngram_size``), computed at a fixed shape from the row alone.

    history (B, L) int64: row b's tokens, history[b, :pos[b] + 1] written so far
    (the prompt at 0); pos (B,) int64; returns (B, vocab) bool, True where the
    next token would complete an n-gram that already occurs. A pure function of
    each row's own tokens, so it never depends on the batch; counts are summed
    with integer scatter_add, so the result does not depend on scatter order.
    """
    B, L = history.shape
    banned = torch.zeros(B, vocab, dtype=torch.int32, device=history.device)
    if n < 1 or L < n:
        return banned.bool()
    windows = history.unfold(1, n, 1)                                                  # (B, L-n+1, n)
    starts = torch.arange(L - n + 1, device=history.device)
    # The row's last n-1 tokens (positions pos-n+2 .. pos), clamped where too few exist.
    tail_pos = (pos[:, None] - (n - 2) + torch.arange(n - 1, device=history.device)).clamp(min=0)
    tail = history.gather(1, tail_pos)                                                 # (B, n-1)
    match = (windows[:, :, :n - 1] == tail[:, None, :]).all(-1)                        # (B, L-n+1)
    # Only n-grams wholly inside what was written, and only once n-1 tokens exist.
    match &= (starts[None, :] + n - 1 <= pos[:, None]) & (pos[:, None] >= n - 2)
    banned.scatter_add_(1, windows[:, :, n - 1], match.to(torch.int32))
    return banned > 0
