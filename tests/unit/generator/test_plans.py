"""Line plans ("last word first": each lyric line's end word written before it)
and the stutter rule: the format, the rules of one row, and the engine's
invariants with planned rhymes in some rows and not in others."""
from __future__ import annotations

import random

import pytest
import torch

from generator.engine import Engine, GenerationConfig
from generator.rhymes import (
    DEFAULT_SCHEMES,
    PLAN_MAX_TOKENS,
    PLAN_REWRITES,
    RhymeTable,
    SongRules,
    Stutter,
    anchor_line,
    read_words,
    rhymes,
    scheme_for,
)
from generator.songformat import (
    LYRICS_MARKER,
    PLAN_CLOSE,
    PLAN_OPEN,
    TITLE_MARKER,
    end_word,
    line_words,
    plan_lines,
    split_song,
    without_plans,
)
from generator.songs import PieceTracker, assemble, decode, end_of_text_id, load_tokenizer
from generator.weights import load_model

WORDS = "/usr/share/dict/words"  # Debian's wamerican, the served default
IDS = [0, 1, 2, 3, 12345, 2**63, 2**64 - 1] + list(range(1000, 1057))  # 64 ids
MAX_NEW_TOKENS = 160


# --- the format -------------------------------------------------------------------

def test_plan_lines_writes_each_line_s_end_word_first_and_without_plans_undoes_it():
    lyrics = "If ye gae up to yon hill-tap,\nYe'll there see bonie Peggy;\n\n\"O'er!\"\n..."
    planned = plan_lines(lyrics)
    assert planned.splitlines() == ["{ tap} If ye gae up to yon hill-tap,", "{ peggy} Ye'll there see bonie Peggy;",
                                    "", "{ o'er} \"O'er!\"", "{} ..."]
    assert without_plans(planned) == lyrics


def test_a_plan_being_written_is_held_back_with_its_line():
    assert without_plans("{ tap} If ye gae\n{ pe", complete=False) == "If ye gae\n"
    assert without_plans("{ tap} If ye gae\n{ peggy}", complete=False) == "If ye gae\n"
    assert without_plans("{ tap} If ye gae\n{ peggy} Ye", complete=False) == "If ye gae\nYe"


def test_split_song_with_plans_shows_no_plan_and_every_partial_is_a_prefix():
    text = TITLE_MARKER + "Peggy" + LYRICS_MARKER + plan_lines("If ye gae up to yon hill-tap,\nYe'll see Peggy;")
    final = split_song(text, plans=True)
    assert final.title == "Peggy" and final.lyrics == "If ye gae up to yon hill-tap,\nYe'll see Peggy;"
    for n in range(len(text) + 1):
        part = split_song(text[:n], complete=False, plans=True)
        assert PLAN_OPEN not in part.lyrics and PLAN_CLOSE not in part.lyrics
        assert final.title.startswith(part.title) and final.lyrics.startswith(part.lyrics), text[:n]


def test_line_words_are_lower_case_and_split_at_hyphens():
    assert line_words("O'er the Hill-top, me, ME!") == ["o'er", "the", "hill", "top", "me", "me"]


# --- the rules of one row ----------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_tokenizer(generator_model_dir):
    return load_tokenizer(generator_model_dir)


@pytest.fixture(scope="module")
def table(tiny_tokenizer):
    return RhymeTable(tiny_tokenizer, end_of_text_id(tiny_tokenizer), tiny_tokenizer.get_vocab_size(),
                      words=read_words(WORDS), plans=True)


def ids_of(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


def allowed(table, mask) -> set[str]:
    return {table.text[i] for i in torch.nonzero(mask).flatten().tolist()}


def test_a_rhyming_plan_is_a_whole_rhyming_word_of_any_length(table, tiny_tokenizer):
    children, whole = table.plan_trie("night")
    words = {decode(tiny_tokenizer, list(ids)).strip() for ids in whole}
    assert words and all(rhymes(w, "night") for w in words) and "night" not in words
    assert any(len(ids) > 1 for ids in whole)  # words of several tokens too ("tonight" is " ton" "ight" here)
    assert "tonight" in words and "light" in words
    # Walking the trie along one word: its pieces, then the plan's close.
    target = tuple(ids_of(tiny_tokenizer, " tonight"))
    for k in range(len(target)):
        mask = table.plan_mask("night", target[:k])
        assert mask[target[k]] and not mask[table.plan_close]
    assert table.plan_mask("night", target)[table.plan_close]
    assert table.plan_trie("xqzzyv") is None


def test_a_line_opens_with_its_plan_a_blank_line_or_the_song_s_end(table, tiny_tokenizer):
    rules = SongRules(table, None, 0, titled=False)
    assert allowed(table, rules.first_mask) >= {PLAN_OPEN, "\n"} and len(allowed(table, rules.first_mask)) <= 4
    assert rules.first_mask[table.eot_id] and not rules.first_mask[ids_of(tiny_tokenizer, " la")[0]]


def test_a_free_plan_is_one_lower_case_word_then_the_line_has_no_braces(table, tiny_tokenizer):
    rules = SongRules(table, None, 0, titled=False)
    tokens = [table.plan_open]
    first = rules.feed(tokens).mask
    assert all(t == PLAN_CLOSE or (t[0] == " " and t[1:].isalpha() and t[1:].islower())
               for t in allowed(table, first))
    piece = ids_of(tiny_tokenizer, "la")[0]
    tokens.append(ids_of(tiny_tokenizer, " la")[0])
    for _ in range(PLAN_MAX_TOKENS - 1):
        assert rules.feed(tokens).mask is table.plan_next
        tokens.append(piece)
    assert rules.feed(tokens).mask is table.plan_close_only  # a plan that runs on is closed
    tokens.append(table.plan_close)
    body = rules.feed(tokens).mask
    assert not body[table.plan_open] and not body[table.plan_close] and body[piece]
    assert not body[ids_of(tiny_tokenizer, "\n")[0]] and not body[table.eot_id]  # never an empty line
    tokens.append(piece)
    mask = rules.feed(tokens).mask
    assert mask[ids_of(tiny_tokenizer, "\n")[0]] and mask[table.eot_id] and not mask[table.marker[0]]


def feed_all(rules, tokens):
    decision = None
    for n in range(1, len(tokens) + 1):
        decision = rules.feed(tokens[:n])
    return decision


def test_a_line_that_must_rhyme_plans_a_rhyme_and_is_rewritten_when_it_ends_elsewhere(table, tiny_tokenizer):
    rules = SongRules(table, "AABB", 0, titled=False)
    first = ([table.plan_open] + ids_of(tiny_tokenizer, " night") + [table.plan_close]
             + ids_of(tiny_tokenizer, " in the night\n"))
    decision = feed_all(rules, first)
    assert rules.anchor == "night" and decision.final == len(first) and decision.mask is table.line_start
    # The second line must rhyme with "night": its plan may only be a rhyming word.
    tokens = first + [table.plan_open]
    decision = rules.feed(tokens)
    assert decision.mask is not None and decision.final == len(first)  # held back until accepted
    starts = allowed(table, decision.mask)
    assert " light" in starts and " night" not in starts and " la" not in starts
    tokens += ids_of(tiny_tokenizer, " light") + [table.plan_close]
    feed_all_from = len(first) + 1
    for n in range(feed_all_from + 1, len(tokens) + 1):
        decision = rules.feed(tokens[:n])
    assert rules.plan_word == "light"
    body_start = len(tokens)
    tokens += ids_of(tiny_tokenizer, " we were young\n")  # ends on neither its plan nor a rhyme
    for n in range(body_start + 1, len(tokens) + 1):
        decision = rules.feed(tokens[:n])
    assert decision.rewind_to == body_start and decision.attempt == 1 and decision.final == len(first)
    # Written again (the engine truncates): now it ends on its plan and is kept.
    tokens = tokens[:body_start] + ids_of(tiny_tokenizer, " in the light\n")
    for n in range(body_start + 1, len(tokens) + 1):
        decision = rules.feed(tokens[:n])
    assert decision.rewind_to is None and decision.final == len(tokens) and rules.stanza == ["night", "light"]


def test_a_line_is_rewritten_at_most_plan_rewrites_times(table, tiny_tokenizer):
    rules = SongRules(table, "AABB", 0, titled=False)
    tokens = ([table.plan_open] + ids_of(tiny_tokenizer, " night") + [table.plan_close]
              + ids_of(tiny_tokenizer, " in the night\n") + [table.plan_open] + ids_of(tiny_tokenizer, " light")
              + [table.plan_close])
    feed_all(rules, tokens)
    body_start = len(tokens)
    wrong = ids_of(tiny_tokenizer, " we were young\n")
    for attempt in range(1, PLAN_REWRITES + 2):
        for n in range(1, len(wrong) + 1):
            decision = rules.feed(tokens + wrong[:n])
        if attempt <= PLAN_REWRITES:
            assert decision.rewind_to == body_start and decision.attempt == attempt
    assert decision.rewind_to is None and rules.stanza == ["night", "young"]  # kept as written


def test_the_stutter_rule_bans_a_third_word_running_and_a_third_pair():
    class Table:  # what Stutter reads of a RhymeTable
        word_pieces = {"me": [1], "m": [2], "and": [3], "meadow": [4]}
        bare_pieces = {"me": [5]}
        everything = torch.ones(8, dtype=torch.bool)

        def _mask(self, ids):
            mask = torch.zeros(8, dtype=torch.bool)
            mask[list(ids)] = True
            return mask

    stutter = Stutter(Table(), max_run=2, max_pairs=2)
    assert stutter.banned_words("But me, me") == {"me"}
    assert stutter.banned_words("But me, you") == set()
    assert stutter.banned_words("me and me and me") == {"and"}  # a third "me and"
    mask = stutter.allowed("But me, me,", None)
    assert mask.tolist() == [True, False, False, True, True, False, True, True]  # " me", " m", "me" after ","
    assert stutter.allowed("But me, you", None) is None
    assert Stutter(Table()).allowed("me me me", None) is None  # off


# --- the engine -------------------------------------------------------------------

@pytest.fixture(scope="module", params=["gpt2", "llama"])
def plan_model_dir(request, generator_plan_dirs):
    return generator_plan_dirs[request.param]


@pytest.fixture(scope="module")
def setup(plan_model_dir):
    torch.set_num_threads(1)
    tokenizer = load_tokenizer(plan_model_dir)
    model = load_model(plan_model_dir)
    eot = end_of_text_id(tokenizer)
    gen = GenerationConfig(eot_id=eot, max_new_tokens=MAX_NEW_TOKENS, prompt=(eot, tokenizer.token_to_id(TITLE_MARKER)),
                           rhyme_schemes=DEFAULT_SCHEMES, max_lines=12, line_plans=True, max_word_run=2,
                           max_pair_repeats=2)
    table = RhymeTable(tokenizer, eot, model.config.vocab_size, words=read_words(WORDS), plans=True)

    def engine(max_batch=64, **changes):
        return Engine(model, GenerationConfig(**{**gen.__dict__, **changes}), max_batch, rhyme_table=table,
                      titled=True, prefix=TITLE_MARKER)
    return tokenizer, engine


@pytest.fixture(scope="module")
def alone(setup):
    _, engine = setup
    e = engine()
    return {i: e.generate([i])[i] for i in IDS}


def planned_lines(tokenizer, tokens) -> list[tuple[str, str]]:
    """(plan, line) of each lyric line of a song's tokens."""
    text = decode(tokenizer, tokens).split(LYRICS_MARKER, 1)[-1]
    out = []
    for line in text.split("\n"):
        if line.startswith(PLAN_OPEN) and PLAN_CLOSE in line:
            plan, _, rest = line[1:].partition(PLAN_CLOSE)
            out.append((plan.strip(), rest))
    return out


def test_every_lyric_line_has_its_plan_and_rewrites_happen_in_some_rows_only(setup, alone):
    tokenizer, _ = setup
    for f in alone.values():
        text = decode(tokenizer, f.tokens).split(LYRICS_MARKER, 1)[-1].replace("<|endoftext|>", "")
        for line in text.split("\n"):
            assert not line or line.startswith(PLAN_OPEN), line
    rewinds = [alone[i].rewinds for i in IDS]
    assert sum(r > 0 for r in rewinds) >= 5 and sum(r == 0 for r in rewinds) >= 5, rewinds


@pytest.mark.parametrize("size,order", [(1, "given"), (7, "shuffled"), (64, "reversed"), (64, "shuffled")])
def test_a_planned_song_is_the_same_alone_and_in_any_batch(setup, alone, size, order):
    _, engine = setup
    ids = IDS[-size:]
    if order == "reversed":
        ids = ids[::-1]
    elif order == "shuffled":
        ids = random.Random(size).sample(ids, len(ids))
    done = engine().generate(ids)
    assert {i: (f.tokens, f.rewinds) for i, f in done.items()} == {i: (alone[i].tokens, alone[i].rewinds) for i in ids}


def test_planned_rows_beside_unplanned_rows_of_another_engine_keep_their_songs(setup, alone):
    """Rows with rhymes planned and rows with only free plans, refilled, in an 8-row batch."""
    _, engine = setup
    done = engine(max_batch=8).generate(IDS[:20][::-1])
    assert {i: f.tokens for i, f in done.items()} == {i: alone[i].tokens for i in IDS[:20]}


def test_lines_that_must_rhyme_plan_a_rhyme_and_free_plans_rarely_do(setup, alone):
    tokenizer, engine = setup
    table = engine().rhyme_table
    free = engine(rhyme_schemes=()).generate(IDS)

    def planned_rhyme_share(done) -> float:
        """Of the lines the scheme wants rhymed (an anchor with rhyming words),
        the share whose plan rhymes with the anchor line's end word."""
        due = rhymed = 0
        for i, f in done.items():
            stanza = []
            for line in decode(tokenizer, f.tokens).split(LYRICS_MARKER, 1)[-1].split("\n"):
                if not line.startswith(PLAN_OPEN) or PLAN_CLOSE not in line:
                    stanza = [] if not line.replace("<|endoftext|>", "") else stanza
                    continue
                plan, _, rest = line[1:].partition(PLAN_CLOSE)
                at = anchor_line(len(stanza), scheme_for(i, DEFAULT_SCHEMES))
                anchor = stanza[at] if at is not None else None
                if anchor and table.plan_trie(anchor) is not None:
                    due += 1
                    rhymed += rhymes(plan.strip(), anchor)
                if rest.replace("<|endoftext|>", "").strip():
                    stanza.append(end_word(rest.replace("<|endoftext|>", "")))
        assert due >= 20
        return rhymed / due
    assert planned_rhyme_share(alone) == 1.0 and planned_rhyme_share(free) < 0.1


def test_no_line_stutters(setup, alone):
    tokenizer, engine = setup
    plain = engine(max_word_run=0, max_pair_repeats=0).generate(IDS)

    def stutters(done) -> int:
        count = 0
        for f in done.values():
            for _, line in planned_lines(tokenizer, f.tokens):
                words = line_words(line)
                pairs = list(zip(words, words[1:]))
                count += any(words[k] == words[k + 1] == words[k + 2] for k in range(len(words) - 2)) \
                    or any(pairs.count(p) >= 3 for p in pairs)
        return count
    assert stutters(alone) == 0 and stutters(plain) > 0


def test_the_stream_shows_no_plan_and_adds_up_to_the_song(setup, alone):
    tokenizer, engine = setup
    e = engine()
    for i in IDS:
        e.submit(i)
    trackers = {i: PieceTracker(tokenizer, TITLE_MARKER, plans=True) for i in IDS}
    tokens: dict[int, list[int]] = {i: [] for i in IDS}
    shown: dict[int, str] = {i: "" for i in IDS}
    while e.busy:
        emitted, finished = e.step()
        for song_id, token in emitted:
            tokens[song_id].append(token)
        for song_id in {s for s, _ in emitted}:
            assert alone[song_id].tokens[:len(tokens[song_id])] == tokens[song_id]
            piece = trackers[song_id].update(tokens[song_id])
            if piece:
                shown[song_id] += piece[1]
        for f in finished:
            song = assemble(tokenizer, f.song_id, f.tokens, f.failed, MAX_NEW_TOKENS, TITLE_MARKER, plans=True)
            rest = trackers[f.song_id].finish(song)
            shown[f.song_id] += rest[1] if rest else ""
            assert shown[f.song_id] == song.lyrics
            assert PLAN_OPEN not in song.lyrics + song.title and PLAN_CLOSE not in song.lyrics + song.title
