import pytest

from billionsongs.common.ids import MAX_SONG_ID, is_song_id, parse_song_id


@pytest.mark.parametrize("text, expected", [
    ("0", 0), ("7", 7), ("007", 7), (str(MAX_SONG_ID), MAX_SONG_ID),
    (str(MAX_SONG_ID + 1), None), ("", None), ("-1", None), ("+1", None), (" 1", None),
    ("1.0", None), ("abc", None), ("１２", None), ("٣", None), ("9" * 41, None),
])
def test_parse_song_id(text, expected):
    assert parse_song_id(text) == expected


def test_is_song_id():
    assert is_song_id(0) and is_song_id(MAX_SONG_ID)
    assert not is_song_id(-1) and not is_song_id(MAX_SONG_ID + 1)
