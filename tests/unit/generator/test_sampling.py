import math

import pytest
import torch

from generator.sampling import counter_bits, gumbel, mix64, sample, song_id_to_int64, uniform

MASK = (1 << 64) - 1


def splitmix_finaliser(x: int) -> int:
    """The reference, on Python integers mod 2^64."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & MASK
    return x ^ (x >> 31)


def test_mix64_matches_the_unsigned_reference():
    values = [0, 1, 2, 12345, (1 << 63) - 1, 1 << 63, MASK, 0xDEADBEEFCAFEBABE]
    got = mix64(torch.tensor([song_id_to_int64(v) for v in values], dtype=torch.int64))
    assert [g & MASK for g in got.tolist()] == [splitmix_finaliser(v) for v in values]


def test_song_ids_outside_uint64_are_rejected():
    with pytest.raises(ValueError):
        song_id_to_int64(-1)
    with pytest.raises(ValueError):
        song_id_to_int64(1 << 64)


def test_noise_is_a_pure_function_of_song_step_and_token():
    ids = torch.tensor([song_id_to_int64(i) for i in (7, MASK, 0, 42)])
    steps = torch.tensor([0, 5, 900, 3])
    tokens = torch.arange(50)
    together = gumbel(ids[:, None], steps[:, None], tokens)               # (4, 50)
    for row in range(4):  # each row alone, and in another batch order, gives the same bits
        alone = gumbel(ids[row:row + 1, None], steps[row:row + 1, None], tokens)
        assert torch.equal(alone[0], together[row])
    flipped = gumbel(ids.flip(0)[:, None], steps.flip(0)[:, None], tokens)
    assert torch.equal(flipped.flip(0), together)


def test_noise_differs_across_songs_steps_and_tokens():
    tokens = torch.arange(1000)
    a = counter_bits(torch.tensor([1]), torch.tensor([0]), tokens)
    b = counter_bits(torch.tensor([2]), torch.tensor([0]), tokens)
    c = counter_bits(torch.tensor([1]), torch.tensor([1]), tokens)
    assert len(set(a.tolist())) == 1000
    assert (a != b).all() and (a != c).all()


def test_uniform_is_inside_the_open_interval_and_flat():
    u = uniform(counter_bits(torch.arange(200)[:, None], torch.tensor([[3]]), torch.arange(500)))
    assert 0 < u.min() and u.max() < 1
    counts = torch.histc(u, bins=10, min=0, max=1)
    expected = u.numel() / 10
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 30, chi2  # 9 degrees of freedom: p < 0.001 above ~27.9


def test_sample_follows_softmax_of_the_top_k_at_the_temperature():
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    n, k, temp = 20000, 4, 0.8
    ids = torch.arange(n)
    picks = sample(logits.expand(n, -1), ids, torch.zeros(n, dtype=torch.int64), k, temp)
    probs = torch.softmax(logits[:k] / temp, dim=0)
    freq = torch.bincount(picks, minlength=6).float() / n
    assert freq[k:].sum() == 0                       # never outside the top k
    assert torch.allclose(freq[:k], probs, atol=0.015), (freq, probs)


def test_sample_uses_no_global_rng():
    logits = torch.randn(8, 100)
    ids, steps = torch.arange(8), torch.arange(8)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = sample(logits, ids, steps, 40, 1.0)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(2)
    assert torch.equal(sample(logits, ids, steps, 40, 1.0), first)


def test_low_temperature_is_greedy():
    logits = torch.randn(16, 300)
    picks = sample(logits, torch.arange(16), torch.zeros(16, dtype=torch.int64), 40, 1e-4)
    assert torch.equal(picks, logits.argmax(-1))


def test_steps_change_the_choice():
    logits = torch.zeros(1, 64).expand(64, -1)
    picks = sample(logits, torch.zeros(64, dtype=torch.int64), torch.arange(64), 64, 1.0)
    assert len(set(picks.tolist())) > 20 and not math.isnan(picks.float().mean())
