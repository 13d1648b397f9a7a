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

import re
from dataclasses import dataclass

END_OF_TEXT = "<|endoftext|>"
TITLE_MARKER = "<|title|>"
LYRICS_MARKER = "<|lyrics|>"
SPECIAL_TOKENS = (END_OF_TEXT, TITLE_MARKER, LYRICS_MARKER)
MAX_TITLE_CHARS = 120
# A model trained with line plans ("last word first", Pasini et al. 2024,
# https://arxiv.org/abs/2412.16022) writes each lyric line's end word before the line:
#     { peggy} Ye'll there see bonie Peggy;
# The plan is plain text of the base vocabulary's own tokens ("{", " peggy", "}");
# the corpus holds neither brace. Visitors never see it: split_song(plans=True)
# removes it, and holds back a plan still being written.
PLAN_OPEN = "{"
PLAN_CLOSE = "}"
_PLAN = re.compile(r"^\{[^}\n]*\} ?", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
# Names the parsing rules below; part of the release id, because a change in how
# text is split into title and lyrics changes served songs. Bump it with any such change.
# v3: a title is one line; the engine never lets a newline end it (rhymes.SongRules).
SONG_FORMAT = "split-song-v3"


def song_prompt(writes_titles: bool) -> str:
    """The text every song is generated from: END_OF_TEXT, and the title marker
    for a model that writes titles, so that every song opens with a title.
    Generated text is parsed with the part after END_OF_TEXT in front."""
    return END_OF_TEXT + (TITLE_MARKER if writes_titles else "")


def line_words(line: str) -> list[str]:
    """The words of a line, lower case ("O'er the hill-top!" -> ["o'er", "the", "hill", "top"])."""
    return [w.lower() for w in _WORD.findall(line)]


def end_word(line: str) -> str | None:
    """The last word of a line, lower case ("Thou doest to me,—" -> "me");
    None for a line without letters."""
    words = _WORD.findall(line)
    return words[-1].lower() if words else None


def plan_lines(lyrics: str) -> str:
    """Lyrics in the line-plan format: each line with words gets its end word
    first, ``"{ word} "``; a line without letters gets ``"{} "``; blank lines
    stay blank."""
    out = []
    for line in lyrics.split("\n"):
        if line.strip():
            word = end_word(line)
            line = f"{PLAN_OPEN}{' ' + word if word else ''}{PLAN_CLOSE} {line}"
        out.append(line)
    return "\n".join(out)


def without_plans(lyrics: str, complete: bool = True) -> str:
    """Lyrics with every line's plan removed (plan_lines's inverse). With
    ``complete=False`` (a song being written), a last line whose plan is not
    closed yet is held back whole."""
    if not complete:
        start = lyrics.rfind("\n") + 1
        if lyrics[start:].startswith(PLAN_OPEN) and PLAN_CLOSE not in lyrics[start:]:
            lyrics = lyrics[:start]
    return _PLAN.sub("", lyrics)


def format_song(title: str, lyrics: str) -> str:
    """One training example (without the leading separator)."""
    title = " ".join(title.split())
    return f"{TITLE_MARKER}{title}{LYRICS_MARKER}{lyrics.strip()}{END_OF_TEXT}"


@dataclass(frozen=True)
class ParsedSong:
    title: str
    lyrics: str


# Trailing characters a first-line title drops ("O my luve's like a red, red rose,").
_TITLE_TAIL = ",;:—-"


def _first_line_title(lyrics: str) -> str:
    for line in lyrics.splitlines():
        line = " ".join(line.split())
        if line:
            return line.rstrip(_TITLE_TAIL).strip()[:MAX_TITLE_CHARS]
    return "Untitled"


def _title_so_far(head: str) -> str:
    """Of a title still being written (no lyrics marker yet), the part no
    ending can change: a prefix both of the title a lyrics marker would settle
    (_title) and of the first-line title if none ever comes (_first_line_title).
    So it stops at the first line's end and holds back a tail that either
    rule could drop (spaces, and the characters of _TITLE_TAIL)."""
    for line in head.splitlines():
        if line.strip():
            return " ".join(line.split()).rstrip(_TITLE_TAIL + " ")[:MAX_TITLE_CHARS]
    return ""


def _without_markers(text: str) -> str:
    # Until none is left: removing one may join the halves of another.
    while any(m in text for m in SPECIAL_TOKENS):
        for m in SPECIAL_TOKENS:
            text = text.replace(m, "")
    return text


def _settled(text: str) -> str:
    """``text`` less a tail that may still grow into a marker ("<|ly"), again
    and again: "<|" + "<|ly" may become "<|" + "<|lyrics|>" and then, the inner
    one removed, "<|title|>"."""
    longest = max(map(len, SPECIAL_TOKENS)) - 1
    while True:
        for cut in range(min(len(text), longest), 0, -1):
            if any(m.startswith(text[-cut:]) for m in SPECIAL_TOKENS):
                text = text[:-cut]
                break
        else:
            return text


def _title(head: str) -> str:
    return " ".join(_without_markers(head).split())[:MAX_TITLE_CHARS]


def split_song(text: str, complete: bool = True, plans: bool = False) -> ParsedSong:
    """Title and lyrics of generated text (without the prompt), the one parser
    of both the finished song and the stream.

    A song has a title when it starts with the title marker and holds a lyrics
    marker: the title is what lies between them, the lyrics what follows, less
    any marker written again. Otherwise all of it is lyrics and the title is
    the first lyric line. ``complete=False`` reads a song still being written
    and returns only what can no longer change: of a title being written, its
    first line less a tail either title rule could drop (_title_so_far); lyrics
    without a tail that may become a marker, without trailing spaces and
    newlines, and never before the song's kind is decided. Each field it
    returns is therefore a prefix of the finished song's field. ``plans``:
    the text is of a model that writes line plans, which are removed
    (without_plans; a plan still being written is held back with its line).
    """
    text = text.replace(END_OF_TEXT, "")
    if not complete:
        text = _settled(text)
        if TITLE_MARKER.startswith(text):
            return ParsedSong("", "")  # nothing yet, or a title marker half written
    titled = text.startswith(TITLE_MARKER)
    if titled and LYRICS_MARKER in text:
        head, body = text[len(TITLE_MARKER):].split(LYRICS_MARKER, 1)
        title = _title(head)
    elif titled and not complete:
        # The title is still being written: show what no ending can change.
        return ParsedSong(_title_so_far(_settled(_without_markers(text[len(TITLE_MARKER):]))), "")
    else:
        title, body = "", text
    lyrics = _without_markers(body).lstrip("\n ")
    if complete:
        if plans:
            lyrics = without_plans(lyrics).lstrip("\n ")
        lyrics = lyrics.rstrip("\n ")
        return ParsedSong(title or _first_line_title(lyrics), lyrics)
    # A title is settled when non-empty; an empty one falls back to the first
    # lyric line, known only at the end. Removing markers can leave the start of
    # one at the end ("<|ly" + "<|title|>"): more text may complete and remove it.
    lyrics = _settled(lyrics)
    if plans:
        lyrics = without_plans(lyrics, complete=False).lstrip("\n ")
    return ParsedSong(title, lyrics.rstrip("\n "))


def parse_song(text: str, plans: bool = False) -> ParsedSong:
    """The finished song's title and lyrics (split_song of the whole text)."""
    return split_song(text, complete=True, plans=plans)
