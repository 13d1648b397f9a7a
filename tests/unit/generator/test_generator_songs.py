import pytest

from generator.randommodel import build_tokenizer
from generator.songs import PieceTracker, assemble, decode, end_of_text_id, partial, writes_titles
from generator.songformat import END_OF_TEXT


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
    assert writes_titles(tok)
    assert (song.title, song.lyrics, song.failed, song.failure, song.token_count) == (
        "Neon Rain", "under the neon\nunder the rain", False, "", len(tokens))


def test_title_falls_back_to_the_first_lyric_line(without_markers):
    tok = without_markers
    tokens = tok.encode("\nhold on, hold on\nthe road is long").ids
    song = assemble(tok, 9, tokens, failed=True, max_new_tokens=len(tokens))
    assert not writes_titles(tok)
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


def test_partial_before_and_after_markers():
    assert partial("<|title|>Half a ti") == ("Half a ti", "")
    assert partial("just lyrics") == ("", "just lyrics")
    assert partial("<|title|>T<|lyrics|>\nla" + END_OF_TEXT) == ("T", "la")


def test_song_text_has_no_replacement_or_control_characters():
    from generator.songs import clean
    assert clean("O my\x00 luve\ufffd is like\x1b a red,\n\tred rose\x7f") == "O my luve is like a red,\n\tred rose"
