import pytest

from billionsongs.common.ids import MAX_SONG_ID, parse_song_id


@pytest.mark.parametrize("text, expected", [
    ("0", 0), ("7", 7), ("007", 7), (str(MAX_SONG_ID), MAX_SONG_ID),
    (str(MAX_SONG_ID + 1), None), ("", None), ("-1", None), ("+1", None), (" 1", None),
    ("1.0", None), ("abc", None), ("１２", None), ("٣", None), ("9" * 41, None),
])
def test_parse_song_id(text, expected):
    assert parse_song_id(text) == expected


@pytest.mark.parametrize("text, minimum, maximum, expected", [
    ("10", 1, 100, 10), ("010", 1, 100, 10), ("1", 1, 100, 1), ("100", 1, 100, 100),
    ("0", 1, 100, None), ("101", 1, 100, None), ("²", 0, None, None), ("٣", 0, None, None),
    ("１", 0, None, None), ("+1", 0, None, None), ("-1", 0, None, None), (" 1", 0, None, None),
    ("1 ", 0, None, None), ("1_0", 0, None, None), ("1.0", 0, None, None), ("", 0, None, None),
    (None, 0, None, None), ("9" * 5000, 0, None, None),
])
def test_parse_decimal_takes_ascii_digits_only(text, minimum, maximum, expected):
    from billionsongs.common.ids import parse_decimal
    assert parse_decimal(text, minimum, maximum) == expected


@pytest.mark.parametrize("text", ["²", "²³", "1²", "¹"])
def test_parse_song_id_refuses_superscripts(text):
    assert parse_song_id(text) is None
