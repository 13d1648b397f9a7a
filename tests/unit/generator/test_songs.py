import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.songformat import END_OF_TEXT, TITLE_MARKER
from generator.songs import PieceTracker, assemble, decode, end_of_text_id, partial
from training.randommodel import build_tokenizer


@pytest.fixture(scope="module")
def with_markers():
    return build_tokenizer(400, markers=True)


@pytest.fixture(scope="module")
def without_markers():
    return build_tokenizer(400, markers=False)


def test_title_and_lyrics_from_a_model_that_writes_titles(with_markers):
    tok = with_markers
    tokens = tok.encode("<|title|>Neon Rain<|lyrics|>under the neon\nunder the rain").ids + [end_of_text_id(tok)]
    song = assemble(tok, 9, tokens, failed=False, max_new_tokens=128)
    assert tok.token_to_id(TITLE_MARKER) is not None
    assert (song.song_id, song.title, song.lyrics, song.failed, song.failure) == (
        9, "Neon Rain", "under the neon\nunder the rain", False, "")


def test_title_falls_back_to_the_first_lyric_line(without_markers):
    tok = without_markers
    tokens = tok.encode("\nhold on, hold on\nthe road is long").ids
    song = assemble(tok, 9, tokens, failed=True, max_new_tokens=len(tokens))
    assert tok.token_to_id(TITLE_MARKER) is None
    assert song.title == "hold on, hold on" and song.lyrics == "hold on, hold on\nthe road is long"
    assert song.failed and str(len(tokens)) in song.failure


def test_pieces_add_up_to_the_text_written_so_far(with_markers):
    tok = with_markers
    text = "<|title|>My Heart<|lyrics|>my heart is a drum\nand it beats for you"
    tokens = tok.encode(text).ids
    tracker, titles, lyrics = PieceTracker(tok), "", ""
    for n in range(1, len(tokens) + 1):
        piece = tracker.update(tokens[:n])
        if piece:
            titles, lyrics = titles + piece[0], lyrics + piece[1]
    assert (titles, lyrics) == partial(decode(tok, tokens)) == ("My Heart", "my heart is a drum\nand it beats for you")


def test_partial_shows_only_what_can_no_longer_change():
    assert partial("<|title|>Half a ti") == ("Half a ti", "")    # the title grows by appending
    assert partial("<|title|>Red,  red rose, ") == ("Red, red rose", "")  # ", " may be dropped at the end
    assert partial("<|title|>One line\nand more") == ("One line", "")     # never past the first line
    assert partial("<|tit") == ("", "")                          # a marker half written
    assert partial("just lyrics\n") == ("", "just lyrics")       # trailing newline may end the song
    assert partial("just lyrics<|ly") == ("", "just lyrics")
    assert partial("<|title|>T<|lyrics|>\nla" + END_OF_TEXT) == ("T", "la")
    assert partial("<|title|>  <|lyrics|>la la") == ("", "la la")  # no title: the first line, at the end


def stream_and_finish(tok, tokens):
    """What a visitor watching the stream sees, and the finished song."""
    tracker, shown_title, shown_lyrics = PieceTracker(tok), "", ""
    eot = end_of_text_id(tok)
    ended = eot in tokens
    tokens = tokens[:tokens.index(eot) + 1] if ended else tokens
    for n in range(1, len(tokens) + 1):
        if tokens[n - 1] == eot:
            continue
        piece = tracker.update(tokens[:n])
        if piece:
            shown_title, shown_lyrics = shown_title + piece[0], shown_lyrics + piece[1]
    song = assemble(tok, 1, tokens, failed=not ended, max_new_tokens=len(tokens))
    rest = tracker.finish(song)
    if rest:
        shown_title, shown_lyrics = shown_title + rest[0], shown_lyrics + rest[1]
    return (shown_title, shown_lyrics), song


def test_song_28_the_lyrics_marker_written_twice_never_shows(with_markers):
    tok = with_markers
    tokens = tok.encode("<|title|>Twice<|lyrics|>la la<|lyrics|> la\nhey").ids + [end_of_text_id(tok)]
    shown, song = stream_and_finish(tok, tokens)
    assert shown == (song.title, song.lyrics) == ("Twice", "la la la\nhey")


def test_song_7_a_title_marker_without_lyrics_marker_is_never_streamed_as_title(with_markers):
    tok = with_markers
    tokens = tok.encode("<|title|>all of it\nis one long title").ids + [end_of_text_id(tok)]
    shown, song = stream_and_finish(tok, tokens)
    assert shown == (song.title, song.lyrics) == ("all of it", "all of it\nis one long title")


FRAGMENTS = ["<|title|>", "<|lyrics|>", "<|endoftext|>", "<|", "ti", "tle|>", "<|ly", "rics|>", "|>", "<",
             "la", " la", "hold on", "\n", "\n\n", " ", "  ", "é", "🎵", "\x00", "—", ",", "ta", "\t", "\u2028",
             ";", "-", ":", "x" * 70]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_the_stream_adds_up_to_the_finished_song_for_text_markers(without_markers, fragments):
    """Markers made of ordinary tokens (as under the bundled model): any text the model can write."""
    tok = without_markers
    tokens = tok.encode("".join(fragments)).ids
    shown, song = stream_and_finish(tok, tokens)
    assert shown == (song.title, song.lyrics)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=399), max_size=40))
def test_the_stream_adds_up_to_the_finished_song_for_any_tokens(with_markers, tokens):
    """Any token sequence, the marker and end-of-text tokens included (ids 0-2)."""
    shown, song = stream_and_finish(with_markers, tokens)
    assert shown == (song.title, song.lyrics)


def test_a_song_without_lyrics_is_a_failed_song(with_markers):
    tok = with_markers
    eot = end_of_text_id(tok)
    for text in ("", "<|title|>Only a title<|lyrics|>", "<|title|>T<|lyrics|> , ;\n"):
        song = assemble(tok, 1502, tok.encode(text).ids + [eot], failed=False, max_new_tokens=128)
        assert song.failed and song.failure == "no lyrics", text
    song = assemble(tok, 1, tok.encode("<|title|>T<|lyrics|>la").ids + [eot], failed=False, max_new_tokens=128)
    assert not song.failed


def test_song_text_has_no_replacement_or_control_characters():
    from generator.songs import clean
    assert clean("O my\x00 luve\ufffd is like\x1b a red,\n\tred rose\x7f") == "O my luve is like a red,\n\tred rose"
