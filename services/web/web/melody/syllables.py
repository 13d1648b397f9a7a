"""Lyrics as the composer sings them: lines, words, syllables and their stress.

Syllables and stress come from the CMU Pronouncing Dictionary (`pronouncing`, its
first pronunciation of a word): one syllable per vowel, stressed where it marks
primary stress. A word of one syllable is stressed unless it is a function word
(FUNCTION_WORDS: articles, pronouns, prepositions, conjunctions and auxiliaries,
which English leaves unstressed in running speech; the CMU entries give most of them
a stress of their own). A word the dictionary lacks (a Scots "bonie", a name, a
number) is split by Hunspell's English hyphenation patterns (`pyphen`, en_US), one
syllable per piece, the first one stressed.

The text each syllable shows under its note comes from the same patterns: where they
find fewer pieces than the dictionary has syllables, the last piece is held over the
remaining notes (the score's "_"); where more, the last pieces are joined.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# "Chorus:", "[Verse 2]", "Refrain." on a line of their own are labels, not sung.
LABEL = re.compile(r"^\W*(chorus|refrain|verse|bridge|intro|outro|pre-chorus|hook)\b\W*\d*\W*$", re.I)
FUNCTION_WORDS = frozenset("""
a an the and but or nor for so yet if than that as of to in on at by with from into onto upon
out off up down over under o'er thro tho though where when while how why
o i me my mine you your yours ye thee thy thou he him his she her hers
it its we us our ours they them their theirs who whom whose which what this these those there
is am are was were be been being do does did has have had will would shall should can could may
might must 'tis 'twas i'm i'll i've i'd you're you'll he's she's it's we're they're let's don't
""".split())

_lock = threading.Lock()


@dataclass(frozen=True)
class Syllable:
    text: str          # what the score shows under the note ("" when the word's last piece is held over it)
    word: int          # index of its word in Lyrics.words
    index: int         # its place in the word, from 0
    stressed: bool


@dataclass(frozen=True)
class Word:
    text: str          # as written in the lyrics
    line: int          # index in Lyrics.lines
    syllables: tuple[Syllable, ...]


@dataclass(frozen=True)
class Line:
    text: str          # the lyric line as written, stripped
    stanza: int        # stanzas are separated by blank lines, from 0
    words: tuple[int, ...]  # indices into Lyrics.words
    rhyme: str         # the end word's rhyming part (CMU), or its last letters when unknown; "" if none


@dataclass(frozen=True)
class Lyrics:
    lines: tuple[Line, ...]
    words: tuple[Word, ...]

    def syllables(self, line: int) -> list[Syllable]:
        return [s for w in self.lines[line].words for s in self.words[w].syllables]


@lru_cache(maxsize=1)
def _hyphenator():
    import pyphen
    return pyphen.Pyphen(lang="en_US")  # pieces of at least two letters at either end


def _phones(word: str) -> str | None:
    import pronouncing
    with _lock:  # pronouncing loads its dictionary on first use into module globals
        found = pronouncing.phones_for_word(word)
    return found[0] if found else None


@lru_cache(maxsize=65536)
def word_syllables(text: str) -> tuple[tuple[str, bool], ...]:
    """The syllables of one word: (display text, stressed) each, at least one.

    >>> word_syllables("counted")
    (('count', True), ('ed', False))
    """
    import pronouncing
    lower = text.lower().replace("’", "'")
    pieces = _hyphenator().inserted(text).split("-")
    pieces = [p for p in pieces if p] or [text]
    phones = _phones(lower)
    if phones is None:
        stresses = [i == 0 and (len(pieces) > 1 or lower not in FUNCTION_WORDS) for i in range(len(pieces))]
        return tuple(zip(pieces, stresses, strict=True))
    marks = pronouncing.stresses(phones) or "1"
    if len(marks) == 1:
        stresses = [lower not in FUNCTION_WORDS]
    else:
        stresses = [mark == "1" for mark in marks]
    count = len(stresses)
    if len(pieces) > count:
        pieces = pieces[:count - 1] + ["".join(pieces[count - 1:])]
    elif len(pieces) < count:
        pieces = pieces + [""] * (count - len(pieces))
    return tuple(zip(pieces, stresses, strict=True))


def _rhyme(word: str) -> str:
    phones = _phones(word.lower().replace("’", "'"))
    if phones:
        import pronouncing
        return pronouncing.rhyming_part(phones)
    return word.lower()[-3:]


def parse(lyrics: str) -> Lyrics:
    """Split a song's lyrics into sung lines (labels and lines without a word left out),
    words and syllables. Never raises on any text; an empty result has no lines."""
    lines: list[Line] = []
    words: list[Word] = []
    stanza, blank = 0, False
    for raw in lyrics.splitlines():
        text = raw.strip()
        if not text:
            blank = True
            continue
        if blank and lines:
            stanza += 1
        blank = False
        found = WORD.findall(text)
        if not found or LABEL.match(text):
            continue
        indices = []
        for token in found:
            index = len(words)
            syllables = tuple(Syllable(piece, index, i, stressed)
                              for i, (piece, stressed) in enumerate(word_syllables(token)))
            words.append(Word(token, len(lines), syllables))
            indices.append(index)
        lines.append(Line(text, stanza, tuple(indices), _rhyme(found[-1])))
    return Lyrics(tuple(lines), tuple(words))
