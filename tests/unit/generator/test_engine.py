import random

import pytest
import torch

from generator.engine import Engine, GenerationConfig
from generator.songs import end_of_text_id, load_tokenizer
from generator.weights import load_model

MAX_BATCH = 64
IDS = [0, 1, 2, 3, 12345, 2**63, 2**64 - 1] + list(range(1000, 1057))  # 64 ids


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model_dir(request, generator_model_dirs):
    """Every test of the engine's invariants runs on both families."""
    return generator_model_dirs[request.param]


@pytest.fixture(scope="module")
def model(model_dir):
    torch.set_num_threads(1)
    return load_model(model_dir)


@pytest.fixture(scope="module")
def gen(model_dir):
    return GenerationConfig(eot_id=end_of_text_id(load_tokenizer(model_dir)), max_new_tokens=128)


@pytest.fixture(scope="module")
def alone(model, gen):
    """Each id generated alone (one song in the batch), the reference."""
    engine = Engine(model, gen, MAX_BATCH)
    return {i: engine.generate([i])[i] for i in IDS}


def tokens_of(done):
    return {i: (f.tokens, f.failed) for i, f in done.items()}


@pytest.mark.parametrize("size,order", [(1, "given"), (7, "shuffled"), (64, "reversed"), (64, "shuffled")])
def test_a_song_is_the_same_alone_and_in_any_batch(model, gen, alone, size, order):
    ids = IDS[-size:]
    if order == "reversed":
        ids = ids[::-1]
    elif order == "shuffled":
        ids = random.Random(size).sample(ids, len(ids))
    done = Engine(model, gen, MAX_BATCH).generate(ids)
    assert tokens_of(done) == {i: (alone[i].tokens, alone[i].failed) for i in ids}


def test_refilled_rows_give_the_same_songs(model, gen, alone):
    """More songs than rows: finished rows take the next song (stale cache masked)."""
    engine = Engine(model, gen, 8)
    small = Engine(model, gen, 8)
    ref = {i: small.generate([i])[i] for i in IDS[:20]}
    done = engine.generate(IDS[:20][::-1])
    assert tokens_of(done) == tokens_of(ref)
    # Refill: far fewer steps than running 8-song batches to their longest song.
    groups = [IDS[:20][::-1][g:g + 8] for g in range(0, 20, 8)]
    static_steps = sum(max(len(ref[i].tokens) for i in g) for g in groups)
    assert engine.steps < static_steps


def test_different_ids_give_different_songs(alone):
    # Very short songs may coincide (the tiny model sometimes ends at once); longer ones must not.
    longer = [tuple(f.tokens) for f in alone.values() if len(f.tokens) >= 4]
    assert len(longer) > 50 and len(set(longer)) == len(longer)


def test_songs_end_at_end_of_text_or_fail_at_the_limit(alone, gen):
    for f in alone.values():
        assert len(f.tokens) <= gen.max_new_tokens
        if f.failed:
            assert len(f.tokens) == gen.max_new_tokens and gen.eot_id not in f.tokens
        else:
            assert f.tokens[-1] == gen.eot_id and gen.eot_id not in f.tokens[:-1]
    assert any(f.failed for f in alone.values()) and not all(f.failed for f in alone.values())


def test_a_short_limit_fails_the_longer_songs_with_the_same_prefix(model, gen, alone):
    short = GenerationConfig(eot_id=gen.eot_id, max_new_tokens=8)
    done = Engine(model, short, MAX_BATCH).generate(IDS)
    for i, f in done.items():
        full = alone[i].tokens
        assert f.tokens == full[:8]
        assert f.failed == (len(full) > 8 or (len(full) == 8 and full[-1] != gen.eot_id))


def test_cancel_frees_the_row(model, gen):
    engine = Engine(model, gen, 2)
    for i in (1, 2, 3):
        engine.submit(i)
    engine.step()
    assert engine.active == 2 and list(engine.waiting) == [3]
    engine.cancel(1)
    engine.cancel(3)
    assert engine.active == 1 and not engine.waiting


def test_ids_outside_uint64_are_refused(model, gen):
    with pytest.raises(ValueError):
        Engine(model, gen, 2).submit(-5)


def test_urgent_songs_run_before_bulk_ones_and_stay_the_same(model, gen, alone):
    """A visitor's song jumps the pregeneration queue; its text does not change."""
    engine = Engine(model, gen, 1)  # one row: order of completion = order of running
    bulk, visitor, later = IDS[8:12], IDS[20], IDS[21]
    for song_id in bulk:
        engine.submit(song_id)
    engine.submit(visitor, urgent=True)
    engine.submit(later)
    engine.expedite(later)         # a visitor now waits for a queued bulk song too
    order = []
    done = {}
    while engine.busy:
        for f in engine.step()[1]:
            order.append(f.song_id)
            done[f.song_id] = f
    assert order[:2] == [later, visitor]
    assert order[2:] == bulk
    assert tokens_of(done) == {i: (alone[i].tokens, alone[i].failed) for i in done}


def ngrams(tokens, n):
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def test_no_repeat_ngram_rule_holds_and_keeps_songs_batch_invariant(model, gen, alone):
    rule = GenerationConfig(eot_id=gen.eot_id, max_new_tokens=gen.max_new_tokens, no_repeat_ngram_size=2)
    ids = IDS[:32]
    single = {i: Engine(model, rule, MAX_BATCH).generate([i])[i] for i in ids[:8]}
    batch = Engine(model, rule, 8).generate(random.Random(3).sample(ids, len(ids)))  # refilled rows too
    assert tokens_of({i: batch[i] for i in single}) == tokens_of(single)
    for f in batch.values():
        song = [gen.eot_id] + f.tokens
        assert len(set(ngrams(song, 2))) == len(ngrams(song, 2)), f.song_id
    # Without the rule some of these songs repeat a pair: the rule changed them.
    assert any(len(set(ngrams([gen.eot_id] + alone[i].tokens, 2))) < len(ngrams([gen.eot_id] + alone[i].tokens, 2))
               for i in ids)


def test_a_longer_prompt_is_fed_before_sampling_and_keeps_songs_batch_invariant(model, gen, model_dir):
    """The title marker after end-of-text (songformat.song_prompt): prompt tokens
    are never sampled nor returned, and a song is the same alone and in a batch."""
    title_marker = load_tokenizer(model_dir).token_to_id("<|title|>")
    prompted = GenerationConfig(eot_id=gen.eot_id, max_new_tokens=gen.max_new_tokens,
                                prompt=(gen.eot_id, title_marker))
    ids = IDS[:24]
    single = {i: Engine(model, prompted, MAX_BATCH).generate([i])[i] for i in ids[:6]}
    batch = Engine(model, prompted, 8).generate(ids[::-1])
    assert tokens_of({i: batch[i] for i in single}) == tokens_of(single)
    plain = Engine(model, gen, 8).generate(ids)
    assert tokens_of(batch) != tokens_of(plain)  # the prompt conditions the songs
    for f in batch.values():
        assert len(f.tokens) <= prompted.max_new_tokens
        assert f.failed == (f.tokens[-1] != gen.eot_id)


def test_urgent_rows_stay_free_for_visitors_and_change_no_song(model, gen, alone):
    """Bulk songs never take the reserved rows, so a visitor's song starts at
    the next step even with bulk songs waiting; its text is the same."""
    engine = Engine(model, gen, 4, urgent_rows=1)
    bulk = IDS[30:40]
    for song_id in bulk:
        engine.submit(song_id)
    engine.step()
    assert engine.active == 3 and len(engine.waiting) == 7    # one row kept free
    visitor = IDS[50]
    engine.submit(visitor, urgent=True)
    emitted, _ = engine.step()
    assert visitor in {song_id for song_id, _ in emitted}     # started at once
    done = {}
    while engine.busy:
        for f in engine.step()[1]:
            done[f.song_id] = f
    assert {i: (f.tokens, f.failed) for i, f in done.items()} == \
        {i: (alone[i].tokens, alone[i].failed) for i in done}
    with pytest.raises(ValueError):
        Engine(model, gen, 4, urgent_rows=4)


def test_the_engine_knows_each_rows_position_without_asking_the_device(model, gen):
    """Attention reads the blocks up to the furthest row's position as the host
    counts it; it must equal the device's own, prompt and refills included."""
    prompt = (gen.eot_id, gen.eot_id, gen.eot_id)
    engine = Engine(model, GenerationConfig(**{**gen.__dict__, "prompt": prompt}), 4)
    for i in IDS[:10]:
        engine.submit(i)
    while engine.busy:
        engine._fill_free_rows()
        positions = [(engine._position(row), int(engine.pos[slot]))
                     for slot, row in enumerate(engine.rows) if row is not None]
        assert all(host == device for host, device in positions), positions
        engine.step()


def test_a_rules_mask_outranks_the_ngram_ban_when_the_ban_would_leave_nothing(model, gen):
    """A row whose rules allow only tokens the n-gram ban forbids (a repeated
    line followed by the same plan) samples among its rules' tokens, not
    from a row of -inf (which picked an arbitrary token: "{ p666666...")."""
    e = Engine(model, GenerationConfig(**{**gen.__dict__, "no_repeat_ngram_size": 1}), 2)
    e.submit(7)
    e._fill_free_rows()
    only = torch.zeros(model.config.vocab_size, dtype=torch.bool)
    only[gen.eot_id] = True  # the prompt's own token: a 1-gram already written, so banned
    e.rows[0].mask = only
    _, finished = e.step()
    assert [f.tokens for f in finished] == [[gen.eot_id]]
