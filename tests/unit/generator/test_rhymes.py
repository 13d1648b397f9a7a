"""Rhyme-scheme decoding (generator.rhymes): the rules, and the engine's
invariants with rows rewinding in some rows and not in others of a batch."""
from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from generator.engine import Engine, GenerationConfig
from generator.rhymes import (
    DEFAULT_SCHEMES,
    END_RESERVE,
    TITLE_MAX_TOKENS,
    TITLE_REPEAT_REWRITES,
    RhymeTable,
    SongRules,
    anchor_line,
    end_word,
    read_words,
    rhymes,
    scheme_for,
    valid_scheme,
)
from generator.songformat import LYRICS_MARKER, TITLE_MARKER, parse_song
from generator.songs import decode, end_of_text_id, load_tokenizer
from generator.weights import load_model

IDS = [0, 1, 2, 3, 12345, 2**63, 2**64 - 1] + list(range(1000, 1057))  # 64 ids
MAX_BATCH = 64
MAX_NEW_TOKENS = 160


# --- the rules ----------------------------------------------------------------

def test_rhymes_follow_the_pronouncing_dictionary():
    assert rhymes("night", "light") and rhymes("grave", "brave") and rhymes("love", "above")
    assert not rhymes("night", "night")   # the same word is no rhyme
    assert not rhymes("night", "day")
    assert not rhymes("xqzzyv", "night")  # a word the dictionary lacks rhymes with nothing
    assert not rhymes(None, "night")


@pytest.mark.parametrize("line,word", [("Thou doest to me,—", "me"), ("O'er the fields of love,", "love"),
                                       ("I'll tell thee, O Lord, I'll let!", "let"), ("— ... —", None),
                                       ("by the river's", "river's"), ("", None)])
def test_end_word_is_the_last_word_in_lower_case(line, word):
    assert end_word(line) == word


@pytest.mark.parametrize("scheme,anchors", [
    ("AABB", [None, 0, None, 2, None, 4, None, 6]),
    ("ABAB", [None, None, 0, 1, None, None, 4, 5]),
    ("ABCB", [None, None, None, 1, None, None, None, 5]),
    ("AAAA", [None, 0, 0, 0, None, 4, 4, 4]),
])
def test_a_line_rhymes_with_the_first_line_of_its_letter_in_its_group(scheme, anchors):
    assert [anchor_line(i, scheme) for i in range(len(anchors))] == anchors


def test_a_song_s_scheme_is_a_pure_function_of_its_id_and_the_schemes():
    picks = [scheme_for(i, DEFAULT_SCHEMES) for i in range(2000)]
    assert picks == [scheme_for(i, DEFAULT_SCHEMES) for i in reversed(range(2000))][::-1]
    counts = Counter(picks)
    assert set(counts) == set(DEFAULT_SCHEMES) and min(counts.values()) > 400  # about 500 each
    assert scheme_for(2**64 - 1, ("ABCB",)) == "ABCB"


@pytest.mark.parametrize("scheme,ok", [("AABB", True), ("A", True), ("ABCDEFGH", True), ("", False),
                                       ("aabb", False), ("AAB B", False), ("ABCDEFGHI", False), ("ÄÄ", False)])
def test_valid_scheme(scheme, ok):
    assert valid_scheme(scheme) is ok


def test_read_words_keeps_lower_case_words(tmp_path):
    path = tmp_path / "words"
    path.write_text("night\nlight\nDwight\nbright's\nx-ray\nsight\nn\nb\n")
    assert read_words(path) == {"night", "light", "sight"}


@pytest.fixture(scope="module")
def tiny_tokenizer(generator_model_dir):
    return load_tokenizer(generator_model_dir)


@pytest.fixture(scope="module")
def table(tiny_tokenizer):
    return RhymeTable(tiny_tokenizer, end_of_text_id(tiny_tokenizer), tiny_tokenizer.get_vocab_size())


def ids_of(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


def test_the_rhyme_mask_holds_whole_rhyming_words_but_never_the_anchor(table, tiny_tokenizer):
    mask = table.word_mask("light")
    words = {table.text[i] for i in torch.nonzero(mask).flatten().tolist()}
    assert " night" in words and " light" not in words
    assert all(rhymes(w.strip(), "light") for w in words)
    assert table.word_mask("xqzzyv") is None
    only = RhymeTable(tiny_tokenizer, table.eot_id, table.vocab, words=frozenset({"tonight"}))
    assert {only.text[i] for i in torch.nonzero(only.word_mask("light")).flatten().tolist()} == {" tonight"}


def test_a_title_ends_only_with_the_lyrics_marker(table, tiny_tokenizer):
    rules = SongRules(table, None, 0, titled=True)
    newline, marker = ids_of(tiny_tokenizer, "\n")[0], ids_of(tiny_tokenizer, LYRICS_MARKER)[0]
    # No newline, no end of text, and no empty title: the marker only after a word.
    assert not rules.first_mask[newline] and not rules.first_mask[table.eot_id] and not rules.first_mask[marker]
    tokens = ids_of(tiny_tokenizer, "hold on")
    for n in range(1, len(tokens) + 1):
        decision = rules.feed(tokens[:n])
        assert not decision.mask[newline] and decision.mask[marker] and decision.final == n  # streamed as it comes
    tokens += ids_of(tiny_tokenizer, LYRICS_MARKER + "la")
    assert rules.feed(tokens[:-1]).mask is None and rules.line_start == len(tokens) - 1
    assert rules.title == "hold on"


def test_a_title_that_runs_on_is_closed_by_the_marker(table, tiny_tokenizer):
    rules = SongRules(table, None, 0, titled=True)
    word = ids_of(tiny_tokenizer, " la")[0]
    tokens = [word] * TITLE_MAX_TOKENS
    for n in range(1, TITLE_MAX_TOKENS):
        assert rules.feed(tokens[:n]).mask is table.in_title
    decision = rules.feed(tokens)
    assert decision.mask is table.marker_next[0] and int(decision.mask.sum()) == 1


@pytest.fixture(scope="module")
def plain_marker_table():
    """The bundled model's tokenizer: its markers are plain text of several pieces."""
    from pathlib import Path
    model = Path(__file__).resolve().parents[3] / "models" / "billionsongs-smollm2"
    tokenizer = load_tokenizer(model)
    return tokenizer, RhymeTable(tokenizer, end_of_text_id(tokenizer), tokenizer.get_vocab_size())


def test_a_marker_of_several_pieces_once_begun_is_written_whole(plain_marker_table):
    tokenizer, table = plain_marker_table
    assert len(table.marker) > 1
    near = ids_of(tokenizer, "All</|lyrics|>")
    assert not table.in_title[near[1]]  # "</": a near-marker never starts
    rules = SongRules(table, None, 0, titled=True)
    tokens = ids_of(tokenizer, "The Greatest of All") + [table.marker[0]]
    for n in range(1, len(tokens) + 1):
        decision = rules.feed(tokens[:n])
    for piece in table.marker[1:]:
        assert decision.mask is not None and torch.nonzero(decision.mask).flatten().tolist() == [piece]
        tokens.append(piece)
        decision = rules.feed(tokens)
    assert decision.mask is None and rules.line_start == len(tokens) and rules.title == "the greatest of all"
    assert parse_song(TITLE_MARKER + decode(tokenizer, tokens + ids_of(tokenizer, "Hi\n"))).title == \
        "The Greatest of All"


def test_a_first_line_that_repeats_the_title_is_rewritten_then_kept(table, tiny_tokenizer):
    rules = SongRules(table, None, 0, titled=True)
    tokens = ids_of(tiny_tokenizer, "hold on" + LYRICS_MARKER)
    for n in range(1, len(tokens) + 1):
        rules.feed(tokens[:n])
    start = len(tokens)
    for attempt in range(1, TITLE_REPEAT_REWRITES + 2):
        line = ids_of(tiny_tokenizer, "Hold on!\n")
        for n in range(1, len(line) + 1):
            decision = rules.feed(tokens[:start] + line[:n])
            assert decision.final == start or n == len(line)  # held back until accepted
        if attempt <= TITLE_REPEAT_REWRITES:
            assert (decision.rewind_to, decision.attempt) == (start, attempt)
        else:  # out of rewrites: the line is kept
            assert decision.rewind_to is None and decision.final == start + len(line)
    other = SongRules(table, None, 0, titled=True)
    tokens = ids_of(tiny_tokenizer, "hold on" + LYRICS_MARKER + "hold me on\n")
    for n in range(1, len(tokens) + 1):
        decision = other.feed(tokens[:n])
    assert decision.rewind_to is None and decision.final == len(tokens) and other.rewinds == 0


def test_a_song_ends_after_max_lines_when_its_rhyme_group_closes(table, tiny_tokenizer):
    rules = SongRules(table, "AABB", 0, titled=False, max_lines=3)
    tokens, ends = [], []
    for line in ["the night was long", "we sang along", "a dream", "a stream", "more"]:
        for token in ids_of(tiny_tokenizer, line + "\n"):
            tokens.append(token)
            decision = rules.feed(tokens)
        ends.append(decision.mask is table.end_only)
        if ends[-1]:
            break
    assert ends == [False, False, False, True]  # line 3 leaves the AABB group open; line 4 closes it


def test_a_song_ends_at_a_line_end_before_running_out_of_tokens(table, tiny_tokenizer):
    rules = SongRules(table, None, 0, titled=False, max_tokens=END_RESERVE + 8)
    tokens, line = [], ids_of(tiny_tokenizer, " la" * 5 + "\n")
    while True:
        tokens += line
        decision = None
        for n in range(len(tokens) - len(line) + 1, len(tokens) + 1):
            decision = rules.feed(tokens[:n])
        if decision.mask is table.end_only:
            break
        assert len(tokens) < END_RESERVE + 8
    assert len(tokens) >= 8


def test_a_line_that_must_rhyme_is_held_back_then_its_last_word_rewritten(table, tiny_tokenizer):
    rules = SongRules(table, "AABB", 0, titled=True, prefix=TITLE_MARKER)
    first = ids_of(tiny_tokenizer, "song" + LYRICS_MARKER + "I walked along the river in the morning light\n")
    for n in range(1, len(first) + 1):
        decision = rules.feed(first[:n])
    assert decision.final == len(first) and rules.anchor == "light" and decision.watch is not None
    second = ids_of(tiny_tokenizer, "we were young and we were restless\n")
    likeliest = len(first) + second.index(ids_of(tiny_tokenizer, " and")[0])
    tokens = first
    for token in second:
        tokens = tokens + [token]
        # The model's chance of a rhyming word at each sample: likeliest at " and".
        decision = rules.feed(tokens, 0.4 if len(tokens) - 1 == likeliest else 0.1)
        assert decision.final == len(first)  # never shown before it is accepted
    # Only the line's last word is rewritten, however likely a rhyme was at " and".
    starts = [len(first) + i for i, t in enumerate(second) if table.text[t].startswith(" ")]
    assert decision.rewind_to == starts[-1] and decision.mask is table.word_mask("light")
    assert decision.attempt == 1 and rules.rewinds == 1
    tokens = tokens[:decision.rewind_to] + ids_of(tiny_tokenizer, " night")
    decision = rules.feed(tokens)
    assert decision.mask is table.line_end and decision.final == len(first)
    tokens += ids_of(tiny_tokenizer, "!")
    assert rules.feed(tokens).mask is table.line_end_after_mark
    tokens += ids_of(tiny_tokenizer, "\n")
    decision = rules.feed(tokens)
    assert decision.final == len(tokens) and decision.mask is None and rules.anchor is None  # line 2 of AABB
    lyrics = parse_song(TITLE_MARKER + decode(tiny_tokenizer, tokens)).lyrics
    assert lyrics.splitlines()[1] == "we were young and we were night!"


def test_below_min_probability_the_line_is_kept_as_written(table, tiny_tokenizer):
    rules = SongRules(table, "AABB", 0, titled=False, min_probability=0.5)
    tokens = []
    for token in ids_of(tiny_tokenizer, "under the neon light\nwe were never told\n"):
        tokens.append(token)
        decision = rules.feed(tokens, 0.3)
    assert decision.rewind_to is None and decision.final == len(tokens) and rules.rewinds == 0


def test_free_attempts_come_first_with_their_own_attempt_number(table, tiny_tokenizer):
    rules = SongRules(table, "AABB", 2, titled=False)
    tokens = ids_of(tiny_tokenizer, "under the neon light\n")
    for n in range(1, len(tokens) + 1):
        rules.feed(tokens[:n])
    tokens += ids_of(tiny_tokenizer, "we were never told\n")
    decision = rules.feed(tokens, 0.2)
    told = len(tokens) - 2
    assert (decision.rewind_to, decision.attempt, decision.mask) == (told, 1, None)


# --- the engine -----------------------------------------------------------------

@pytest.fixture(scope="module", params=["gpt2", "llama"])
def rhyme_model_dir(request, generator_rhyme_dirs):
    return generator_rhyme_dirs[request.param]


@pytest.fixture(scope="module")
def setup(rhyme_model_dir):
    torch.set_num_threads(1)
    tokenizer = load_tokenizer(rhyme_model_dir)
    model = load_model(rhyme_model_dir)
    eot = end_of_text_id(tokenizer)
    prompt = (eot, tokenizer.token_to_id(TITLE_MARKER))
    # max_lines: some songs end by the rule, some by the model, in the same batches.
    gen = GenerationConfig(eot_id=eot, max_new_tokens=MAX_NEW_TOKENS, prompt=prompt, rhyme_schemes=DEFAULT_SCHEMES,
                           max_lines=12)
    table = RhymeTable(tokenizer, eot, model.config.vocab_size)

    def engine(max_batch=MAX_BATCH, **changes):
        g = GenerationConfig(**{**gen.__dict__, **changes})
        return Engine(model, g, max_batch, rhyme_table=table, titled=True, prefix=TITLE_MARKER)
    return tokenizer, engine


@pytest.fixture(scope="module")
def alone(setup):
    _, engine = setup
    e = engine()
    return {i: e.generate([i])[i] for i in IDS}


def test_rewinds_happen_in_some_rows_and_not_in_others(alone):
    rewinds = [alone[i].rewinds for i in IDS]
    assert sum(r > 0 for r in rewinds) >= 6 and sum(r == 0 for r in rewinds) >= 5, rewinds
    assert all(alone[i].sampled >= len(alone[i].tokens) for i in IDS)


def test_some_songs_end_by_the_rules_and_none_fails(setup, alone):
    """The batches of these tests hold songs the model ended, songs ended
    after max_lines lines, and songs ended short of the token limit."""
    tokenizer, _ = setup
    lines = {i: sum(1 for line in parse_song(TITLE_MARKER + decode(tokenizer, f.tokens)).lyrics.splitlines()
                    if line.strip()) for i, f in alone.items()}
    assert sum(n >= 12 for n in lines.values()) >= 3 and sum(n < 12 for n in lines.values()) >= 3, lines
    assert sum(len(f.tokens) >= MAX_NEW_TOKENS - END_RESERVE for f in alone.values()) >= 3
    assert not any(f.failed for f in alone.values())


@pytest.mark.parametrize("size,order", [(1, "given"), (7, "shuffled"), (64, "reversed"), (64, "shuffled")])
def test_a_rhyming_song_is_the_same_alone_and_in_any_batch(setup, alone, size, order):
    _, engine = setup
    ids = IDS[-size:]
    if order == "reversed":
        ids = ids[::-1]
    elif order == "shuffled":
        ids = random.Random(size).sample(ids, len(ids))
    done = engine().generate(ids)
    assert {i: (f.tokens, f.failed, f.rewinds) for i, f in done.items()} == \
        {i: (alone[i].tokens, alone[i].failed, alone[i].rewinds) for i in ids}


def test_refilled_rows_with_rewinds_give_the_same_songs(setup, alone):
    _, engine = setup
    done = engine(max_batch=MAX_BATCH).generate(IDS[:30][::-1])
    assert {i: f.tokens for i, f in done.items()} == {i: alone[i].tokens for i in IDS[:30]}


def test_the_stream_hands_out_only_accepted_tokens_and_adds_up_to_the_song(setup, alone):
    _, engine = setup
    e = engine()
    for i in IDS:
        e.submit(i)
    streamed: dict[int, list[int]] = {i: [] for i in IDS}
    while e.busy:
        emitted, finished = e.step()
        for song_id, token in emitted:
            streamed[song_id].append(token)
        for song_id, tokens in streamed.items():
            # Whatever was handed out is the start of the finished song: no token is ever taken back.
            assert alone[song_id].tokens[:len(tokens)] == tokens
        for f in finished:
            assert streamed[f.song_id] == f.tokens


def test_must_rhyme_lines_rhyme_and_far_more_than_without_the_rules(setup, alone):
    tokenizer, engine = setup
    table = engine().rhyme_table
    plain = engine(rhyme_schemes=()).generate(IDS)

    marker, newline = tokenizer.token_to_id(LYRICS_MARKER), set(table.newline) | {table.eot_id}

    def rhyme_share(done) -> float:
        """Of the lines the scheme wants rhymed and the rules can rewrite (the
        anchor has rhyming words in the vocabulary; a token after the line's
        first opens a word with a space), the share that rhyme."""
        due = rhymed = 0
        for i, f in done.items():
            if marker not in f.tokens:
                continue
            stanza, line = [], []
            for token in f.tokens[f.tokens.index(marker) + 1:]:
                if token not in newline:
                    line.append(token)
                    continue
                text = decode(tokenizer, line)
                if not text.strip():
                    stanza, line = [], []
                    continue
                at = anchor_line(len(stanza), scheme_for(i, DEFAULT_SCHEMES))
                anchor = stanza[at] if at is not None else None
                if anchor and table.word_mask(anchor) is not None and \
                        any(table.text[t][:1] == " " and table.text[t][1:2].isalpha() for t in line[1:]):
                    due += 1
                    rhymed += rhymes(end_word(text), anchor)
                stanza.append(end_word(text))
                line = []
        assert due >= 10
        return rhymed / due
    with_rules, without = rhyme_share(alone), rhyme_share(plain)
    assert with_rules > 0.95 and without < 0.2, (with_rules, without)


def test_the_engine_knows_each_rows_position_without_asking_the_device(setup):
    """Attention reads the blocks up to the furthest row's position as the host
    counts it (prompt, tokens, rewinds); it must equal the device's own."""
    _, engine = setup
    e = engine(max_batch=8)
    for i in IDS[:16]:
        e.submit(i)
    rewound = 0
    while e.busy:
        e._fill_free_rows()
        for slot, row in enumerate(e.rows):
            if row is not None:
                assert e._position(row) == int(e.pos[slot])
        rewound += sum(f.rewinds for f in e.step()[1])
    assert rewound > 0


def test_a_line_of_prose_ends_once_its_word_is_whole(table, tiny_tokenizer):
    from generator.rhymes import LINE_HARD_TOKENS, LINE_MAX_TOKENS
    rules = SongRules(table, None, 0, titled=False)
    word, piece = ids_of(tiny_tokenizer, " la")[0], ids_of(tiny_tokenizer, "la")[0]
    tokens = [word] * (LINE_MAX_TOKENS - 1)
    for n in range(1, len(tokens) + 1):
        assert rules.feed(tokens[:n]).mask is None
    tokens.append(word)
    decision = rules.feed(tokens)
    assert decision.mask is table.line_end_or_piece
    assert decision.mask[piece] and not decision.mask[word] and decision.mask[ids_of(tiny_tokenizer, "\n")[0]]
    while len(tokens) < LINE_HARD_TOKENS:  # a word that goes on and on
        tokens.append(piece)
        decision = rules.feed(tokens)
    assert decision.mask is table.line_end_after_mark
    comma = SongRules(table, None, 0, titled=False)
    tokens = [word] * LINE_MAX_TOKENS + ids_of(tiny_tokenizer, ",")
    for n in range(1, len(tokens) + 1):
        decision = comma.feed(tokens[:n])
    assert decision.mask is table.line_end_after_mark  # after a mark: the line's end
