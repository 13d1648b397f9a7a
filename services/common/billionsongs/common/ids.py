"""Song ids: unsigned 64-bit integers, written in canonical decimal."""
from __future__ import annotations

MAX_SONG_ID = 2**64 - 1


def parse_song_id(text: str) -> int | None:
    """The id written in ``text`` (ASCII decimal digits only), or None.

    Non-canonical forms such as ``007`` parse (the caller may redirect to the
    canonical form, ``str(id)``); signs, spaces, non-ASCII digits and values
    of 2**64 or more do not.
    """
    if not text or len(text) > 40 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_SONG_ID else None


def is_song_id(value: int) -> bool:
    return isinstance(value, int) and 0 <= value <= MAX_SONG_ID
