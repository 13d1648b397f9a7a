"""One host sync per decode step: sampling (top-k, counter-based Gumbel noise)
runs on the model's device and returns a device tensor; the engine copies one
(B,) vector to the host per step (its new tokens, with the rhyme probabilities
stacked into the same copy), which the per-row song rules and the stream need.
On a GPU every further device-to-host copy would stall the step.

Counted on the CPU by wrapping every Tensor method that hands a value to the
host (``tolist``, ``item``, ``cpu``, ``numpy``, and ``bool``/``int``/
``float``/``index`` of a tensor)."""
from __future__ import annotations

import contextlib

import pytest
import torch

from generator.engine import Engine, GenerationConfig
from generator.rhymes import DEFAULT_SCHEMES, RhymeTable
from generator.sampling import banned_by_ngrams, sample
from generator.songformat import TITLE_MARKER
from generator.songs import end_of_text_id, load_tokenizer
from generator.weights import load_model

HOST_COPIES = ("tolist", "item", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def host_copies(monkeypatch):
    """Yields the list of host copies made by Tensor methods while inside, by name."""
    calls: list[str] = []
    for name in HOST_COPIES:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    try:
        yield calls
    finally:
        monkeypatch.undo()


def test_the_counter_sees_every_kind_of_host_copy(monkeypatch):
    t = torch.tensor([3])
    with host_copies(monkeypatch) as calls:
        t.tolist(), t.item(), bool(t), int(t), float(t), [0, 1, 2, 3][t], t.cpu(), t.numpy()
    assert sorted(calls) == sorted(HOST_COPIES)


def test_sampling_stays_on_the_device_with_no_host_copy(monkeypatch):
    logits = torch.randn(8, 300)
    ids, steps = torch.arange(8, dtype=torch.int64), torch.full((8,), 5, dtype=torch.int64)
    history = torch.randint(0, 300, (8, 40))
    with host_copies(monkeypatch) as calls:
        tokens = sample(logits, ids, steps, top_k=40, temperature=0.9)
        banned = banned_by_ngrams(history, steps, 3, 300)
    assert calls == []
    assert isinstance(tokens, torch.Tensor) and tokens.device == logits.device
    assert tokens.shape == (8,) and tokens.dtype == torch.int64 and banned.device == logits.device


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_each_engine_step_copies_to_the_host_once(family, generator_model_dirs, monkeypatch):
    torch.set_num_threads(1)
    model_dir = generator_model_dirs[family]
    model = load_model(model_dir)
    gen = GenerationConfig(eot_id=end_of_text_id(load_tokenizer(model_dir)), max_new_tokens=64,
                           no_repeat_ngram_size=3)
    engine = Engine(model, gen, 4)
    for i in range(10):  # more songs than rows: refills happen between steps
        engine.submit(i)
    per_step = []
    while engine.busy:
        with host_copies(monkeypatch) as calls:
            engine.step()
        per_step.append(list(calls))
    assert len(per_step) > 20 and all(calls == ["tolist"] for calls in per_step), per_step


def test_rhymes_and_titles_add_no_host_copy(generator_rhyme_dirs, monkeypatch):
    """The rhyme probabilities travel in the same copy as the tokens."""
    torch.set_num_threads(1)
    model_dir = generator_rhyme_dirs["gpt2"]
    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir)
    eot = end_of_text_id(tokenizer)
    gen = GenerationConfig(eot_id=eot, max_new_tokens=96, prompt=(eot, tokenizer.token_to_id(TITLE_MARKER)),
                           rhyme_schemes=DEFAULT_SCHEMES)
    engine = Engine(model, gen, 4, rhyme_table=RhymeTable(tokenizer, eot, model.config.vocab_size),
                    titled=True, prefix=TITLE_MARKER)
    for i in range(8):
        engine.submit(i)
    per_step, rewinds = [], 0
    while engine.busy:
        with host_copies(monkeypatch) as calls:
            finished = engine.step()[1]
        per_step.append(list(calls))
        rewinds += sum(f.rewinds for f in finished)
    assert rewinds > 0  # the rewind path ran too
    assert all(calls == ["tolist"] for calls in per_step), per_step
