"""Decode attention over the filled cache blocks: a row's numbers never depend
on how many blocks the step reads (that is, on the other rows)."""
import math

import pytest
import torch

from generator.attention import BLOCK, KVCache, attend, blocks_to_read, visibility_mask


def filled_cache(batch, heads, length, head_dim, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    cache = KVCache(1, batch, heads, length, head_dim, "cpu", dtype)
    cache.k.copy_(torch.randn(cache.k.shape))
    cache.v.copy_(torch.randn(cache.v.shape))
    return cache


def as_positions(cache_tensor, layer=0):
    """(blocks, B, H, BLOCK, D) -> (B, H, positions, D)."""
    t = cache_tensor[layer]
    return t.permute(1, 2, 0, 3, 4).reshape(t.shape[1], t.shape[2], -1, t.shape[-1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("group", [1, 3])
def test_a_row_gets_the_same_bits_whatever_the_blocks_read(dtype, group):
    B, H, D, length = 5, 2, 16, 4 * BLOCK + 7
    cache = filled_cache(B, H, length, D, dtype)
    q = torch.randn(B, H, group, D).to(dtype)
    pos = torch.tensor([0, BLOCK - 1, BLOCK, 2 * BLOCK + 5, 3 * BLOCK + 2])
    for b in range(B):
        own = blocks_to_read(int(pos[b]), cache)
        alone = attend(q, cache, 0, visibility_mask(pos, own))[b]
        for blocks in range(own + 1, cache.blocks + 1):
            beside = attend(q, cache, 0, visibility_mask(pos, blocks))[b]
            assert torch.equal(alone, beside), (b, blocks)


def test_it_is_softmax_attention_over_each_rows_own_positions():
    B, H, G, D = 4, 3, 2, 8
    cache = filled_cache(B, H, 3 * BLOCK, D)
    q = torch.randn(B, H, G, D)
    pos = torch.tensor([3, 70, 150, 191])
    got = attend(q, cache, 0, visibility_mask(pos, cache.blocks))
    keys, values = as_positions(cache.k), as_positions(cache.v)
    for b in range(B):
        k, v = keys[b, :, : pos[b] + 1], values[b, :, : pos[b] + 1]          # (H, p, D)
        expected = torch.softmax(q[b] @ k.transpose(-1, -2), dim=-1) @ v     # (H, G, D)
        torch.testing.assert_close(got[b], expected, atol=1e-5, rtol=1e-5)


def test_write_puts_each_rows_key_and_value_at_its_position():
    B, H, D = 3, 2, 4
    cache = KVCache(2, B, H, 2 * BLOCK, D, "cpu", torch.float32)
    pos = torch.tensor([0, BLOCK + 1, 2 * BLOCK - 1])
    k, v = torch.randn(B, H, D), torch.randn(B, H, D)
    cache.write(1, cache.slots(pos), k, v)
    keys, values = as_positions(cache.k, 1), as_positions(cache.v, 1)
    for b in range(B):
        assert torch.equal(keys[b, :, pos[b]], k[b]) and torch.equal(values[b, :, pos[b]], v[b])
    assert int((keys != 0).any(-1).sum()) == B * H  # nothing else written
    assert not cache.k[0].any()                     # nor in another layer


def test_the_cache_rounds_up_to_whole_blocks_and_refuses_positions_past_it():
    cache = KVCache(1, 1, 1, BLOCK + 1, 4, "cpu", torch.float32)
    assert (cache.length, cache.blocks) == (BLOCK + 1, 2)
    assert blocks_to_read(None, cache) == 2
    assert [blocks_to_read(p, cache) for p in (0, BLOCK - 1, BLOCK, 2 * BLOCK - 1)] == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="outside"):
        blocks_to_read(2 * BLOCK, cache)
    with pytest.raises(ValueError, match="outside"):
        blocks_to_read(-1, cache)


def test_positions_past_a_row_are_masked():
    mask = visibility_mask(torch.tensor([0, BLOCK]), 2)          # (2, B, 1, 1, BLOCK)
    flat = mask.permute(1, 2, 3, 0, 4).reshape(2, -1)
    assert flat[0, 0] == 0 and math.isinf(flat[0, 1]) and flat[0, 1] < 0
    assert (flat[1, : BLOCK + 1] == 0).all() and torch.isinf(flat[1, BLOCK + 1:]).all()
