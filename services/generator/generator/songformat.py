"""The song format the model is trained on and the generator parses.

One song in the training stream (the original's idea, from its "plans for the
future", done):

    <|endoftext|><|title|>Title<|lyrics|>Lyrics text ...<|endoftext|>

Generation starts from ``<|endoftext|>`` alone, so the model writes the title
marker, a title, the lyrics marker and the lyrics, and ends the song with
``<|endoftext|>``. A model without the markers (plain GPT-2) writes lyrics
only; its title falls back to the first lyric line.
"""
from __future__ import annotations

from dataclasses import dataclass

END_OF_TEXT = "<|endoftext|>"
TITLE_MARKER = "<|title|>"
LYRICS_MARKER = "<|lyrics|>"
SPECIAL_TOKENS = (END_OF_TEXT, TITLE_MARKER, LYRICS_MARKER)
MAX_TITLE_CHARS = 120


def format_song(title: str, lyrics: str) -> str:
    """One training example (without the leading separator)."""
    title = " ".join(title.split())
    return f"{TITLE_MARKER}{title}{LYRICS_MARKER}{lyrics.strip()}{END_OF_TEXT}"


@dataclass(frozen=True)
class ParsedSong:
    title: str
    lyrics: str


def _first_line_title(lyrics: str) -> str:
    for line in lyrics.splitlines():
        line = line.strip()
        if line:
            return line.rstrip(",;:—-").strip()[:MAX_TITLE_CHARS]
    return "Untitled"


def parse_song(text: str) -> ParsedSong:
    """Split generated text (without prompt and final end-of-text) into title
    and lyrics. Tolerates a missing or misplaced marker."""
    text = text.replace(END_OF_TEXT, "")
    if LYRICS_MARKER in text:
        head, lyrics = text.split(LYRICS_MARKER, 1)
        title = " ".join(head.replace(TITLE_MARKER, "").split())[:MAX_TITLE_CHARS]
        lyrics = lyrics.replace(TITLE_MARKER, "").replace(LYRICS_MARKER, "").strip("\n ")
        return ParsedSong(title or _first_line_title(lyrics), lyrics)
    # No lyrics marker: all of it is lyrics (a model without title markers).
    lyrics = text.replace(TITLE_MARKER, "").strip("\n ")
    return ParsedSong(_first_line_title(lyrics), lyrics)
