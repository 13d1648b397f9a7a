"""Song ids: unsigned 64-bit integers, written in canonical decimal; and every other
whole number read from a request, which is ASCII digits and nothing else."""
from __future__ import annotations

MAX_SONG_ID = 2**64 - 1
_ASCII_DIGITS = frozenset("0123456789")


def parse_decimal(text: str | None, minimum: int = 0, maximum: int | None = None,
                  max_digits: int = 40) -> int | None:
    """The number written in ``text`` as ASCII digits ``0-9`` only, within
    [minimum, maximum], or None.

    ``str.isdigit()`` is not this: it accepts superscripts ("²") that ``int()``
    refuses, and ``int()`` itself accepts other scripts' digits ("٣"), signs,
    spaces and underscores. At most ``max_digits`` digits, so a huge string never
    reaches ``int()`` (which refuses past 4,300 digits, slowly).
    """
    if not isinstance(text, str) or not text or len(text) > max_digits or not _ASCII_DIGITS.issuperset(text):
        return None
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        return None
    return value


def parse_song_id(text: str) -> int | None:
    """The id written in ``text`` (ASCII decimal digits only), or None.

    Non-canonical forms such as ``007`` parse (the caller may redirect to the
    canonical form, ``str(id)``); signs, spaces, non-ASCII digits and values
    of 2**64 or more do not.
    """
    return parse_decimal(text, 0, MAX_SONG_ID)


