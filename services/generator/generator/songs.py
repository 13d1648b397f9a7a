"""Tokens to song text: the final title and lyrics, and the pieces a stream
shows while a song is being written. No torch here (the tokenizer is the
`tokenizers` library)."""
from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from billionsongs.common.songs import Song
from generator.songformat import END_OF_TEXT, parse_song, split_song


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


def decode(tokenizer: Tokenizer, tokens: list[int]) -> str:
    # Keep special tokens: the title and lyrics markers are how the text is split.
    return tokenizer.decode(tokens, skip_special_tokens=False)


# Byte-level BPE can write byte sequences that are not UTF-8 (decoded as
# U+FFFD) and control characters; neither belongs in a song (PostgreSQL text
# refuses NUL). Newlines and tabs stay.
_UNPRINTABLE = {c: None for c in range(32) if chr(c) not in "\n\t"} | {0x7F: None, 0xFFFD: None}


def clean(text: str) -> str:
    return text.translate(_UNPRINTABLE)


def has_words(lyrics: str) -> bool:
    """At least one letter or digit: a song of nothing but spaces and
    punctuation (or nothing at all) is no song."""
    return any(c.isalnum() for c in lyrics)


def assemble(tokenizer: Tokenizer, song_id: int, tokens: list[int], failed: bool,
             max_new_tokens: int, prefix: str = "", plans: bool = False) -> Song:
    """The finished song from its generated tokens; ``prefix`` is the prompt's
    text after END_OF_TEXT (songformat.song_prompt), which the song's text
    begins with; ``plans``: the model writes line plans, which visitors never see.
    It fails when no end of text came within the limit, or when it has no
    lyrics (the model ended it at once): a failed song is never shown, pooled
    or voted on. Its ``model_release`` is "": the server, which knows the release, sets it."""
    parsed = parse_song(clean(prefix + decode(tokenizer, tokens)), plans)
    failure = f"no end of text within {max_new_tokens} tokens" if failed else ""
    if not failed and not has_words(parsed.lyrics):
        failed, failure = True, "no lyrics"
    return Song(song_id=song_id, model_release="", title=parsed.title, lyrics=parsed.lyrics, failed=failed,
                failure=failure)


def partial(text: str, plans: bool = False) -> tuple[str, str]:
    """(title, lyrics) of a song being written: only what can no longer change,
    so each is a prefix of the finished song's (songformat.split_song)."""
    song = split_song(text, complete=False, plans=plans)
    return song.title, song.lyrics


class PieceTracker:
    """Turns a growing token list into (title delta, lyrics delta) pieces whose
    concatenation, with the piece from finish(), is the finished title and lyrics."""

    def __init__(self, tokenizer: Tokenizer, prefix: str = "", plans: bool = False):
        self.tokenizer, self.prefix, self.plans = tokenizer, prefix, plans  # as assemble()'s
        self.title = ""
        self.lyrics = ""

    def _delta(self, title: str, lyrics: str) -> tuple[str, str] | None:
        # split_song guarantees growth by appending; anything else is a bug, not a piece.
        if not (title.startswith(self.title) and lyrics.startswith(self.lyrics)):
            raise AssertionError(f"stream would rewrite shown text: {self.title!r}/{title!r}")
        dt, dl = title[len(self.title):], lyrics[len(self.lyrics):]
        if not dt and not dl:
            return None
        self.title, self.lyrics = title, lyrics
        return dt, dl

    def update(self, tokens: list[int]) -> tuple[str, str] | None:
        text = decode(self.tokenizer, tokens)
        if text.endswith("\ufffd"):
            return None  # a multi-byte character is only half written; wait for the rest
        return self._delta(*partial(clean(self.prefix + text), self.plans))

    def finish(self, song: Song) -> tuple[str, str] | None:
        """The rest of the finished song, after what update() has shown."""
        return self._delta(song.title, song.lyrics)
