"""Tokens to song text: the final title and lyrics, and the pieces a stream
shows while a song is being written. No torch here (the tokenizer is the
`tokenizers` library)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from generator.songformat import END_OF_TEXT, LYRICS_MARKER, TITLE_MARKER, parse_song


def load_tokenizer(model_dir: str | Path) -> Tokenizer:
    path = Path(model_dir) / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing (save the tokenizer with save_pretrained)")
    return Tokenizer.from_file(str(path))


def end_of_text_id(tokenizer: Tokenizer) -> int:
    eot = tokenizer.token_to_id(END_OF_TEXT)
    if eot is None:
        raise ValueError(f"the tokenizer has no {END_OF_TEXT} token")
    return eot


def writes_titles(tokenizer: Tokenizer) -> bool:
    return tokenizer.token_to_id(TITLE_MARKER) is not None and tokenizer.token_to_id(LYRICS_MARKER) is not None


def decode(tokenizer: Tokenizer, tokens: list[int]) -> str:
    # Keep special tokens: the title and lyrics markers are how the text is split.
    return tokenizer.decode(tokens, skip_special_tokens=False)


# Byte-level BPE can write byte sequences that are not UTF-8 (decoded as
# U+FFFD) and control characters; neither belongs in a song (PostgreSQL text
# refuses NUL). Newlines and tabs stay.
_UNPRINTABLE = {c: None for c in range(32) if chr(c) not in "\n\t"} | {0x7F: None, 0xFFFD: None}


def clean(text: str) -> str:
    return text.translate(_UNPRINTABLE)


@dataclass(frozen=True)
class SongResult:
    song_id: int
    title: str
    lyrics: str
    failed: bool
    failure: str
    token_count: int


def assemble(tokenizer: Tokenizer, song_id: int, tokens: list[int], failed: bool,
             max_new_tokens: int) -> SongResult:
    parsed = parse_song(clean(decode(tokenizer, tokens)))
    failure = f"no end of text within {max_new_tokens} tokens" if failed else ""
    return SongResult(song_id, parsed.title, parsed.lyrics, failed, failure, len(tokens))


def partial(text: str) -> tuple[str, str]:
    """(title, lyrics) written so far, as raw prefixes that only grow.

    The final Song (parse_song) is the authority; these feed the live view.
    """
    text = text.replace(END_OF_TEXT, "")
    if LYRICS_MARKER in text:
        head, lyrics = text.split(LYRICS_MARKER, 1)
        return head.replace(TITLE_MARKER, "").lstrip(), lyrics.replace(TITLE_MARKER, "").lstrip("\n ")
    if TITLE_MARKER in text:
        return text.split(TITLE_MARKER, 1)[1].lstrip(), ""
    return "", text.lstrip("\n ")


class PieceTracker:
    """Turns a growing token list into (title delta, lyrics delta) pieces."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.title = ""
        self.lyrics = ""

    def update(self, tokens: list[int]) -> tuple[str, str] | None:
        text = decode(self.tokenizer, tokens)
        if text.endswith("\ufffd"):
            return None  # a multi-byte character is only half written; wait for the rest
        title, lyrics = partial(clean(text))
        dt = title[len(self.title):] if title.startswith(self.title) else ""
        dl = lyrics[len(self.lyrics):] if lyrics.startswith(self.lyrics) else ""
        if not dt and not dl:
            return None
        self.title, self.lyrics = self.title + dt, self.lyrics + dl
        return dt, dl
