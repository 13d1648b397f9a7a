"""A melody as a score in ABC notation (the ABC standard 2.1, abcnotation.com), the
lyrics under the notes: one line of music per lyric line, each followed by its
``w:`` line (syllables of a word joined by "-", "_" where a word's last piece is held
over a further note). abcjs renders it in the page.

Notes are spelled in the key (its letter names, the key signature's accidentals
left out); an accidental is written where a note differs from what the signature and
any earlier accidental in the bar give that letter in that octave (ABC 2.1 §4.2:
accidentals hold to the end of the bar).
"""
from __future__ import annotations

from web.melody.compose import KEY_NAMES, Melody
from web.melody.theory import MODES

LETTERS = "CDEFGAB"
NATURAL = (0, 2, 4, 5, 7, 9, 11)
REST_TICKS = (16, 12, 8, 6, 4, 3, 2, 1)


def _signature(tonic_name: str, mode: str) -> dict[str, int]:
    """Letter -> alteration (-1, 0, +1) in the key signature of ``tonic_name`` ``mode``."""
    first = LETTERS.index(tonic_name[0])
    tonic_pc = (NATURAL[first] + {"b": -1, "#": 1}.get(tonic_name[1:], 0)) % 12
    signature = {}
    for step, semitones in enumerate(MODES[mode]):
        letter = (first + step) % 7
        alteration = ((tonic_pc + semitones - NATURAL[letter]) + 6) % 12 - 6
        signature[LETTERS[letter]] = alteration
    return signature


def _spell(pitch: int, tonic_name: str, tonic_pc: int, mode: str) -> tuple[str, int, int]:
    """(letter, alteration, octave) of ``pitch`` as a degree of the key: the scale's
    letter for its degree, the raised seventh of minor on the seventh's letter."""
    first = LETTERS.index(tonic_name[0])
    semitones = (pitch - tonic_pc) % 12
    scale = MODES[mode]
    step = max(i for i, s in enumerate(scale) if s <= semitones)
    letter = (first + step) % 7
    alteration = ((pitch % 12 - NATURAL[letter]) + 6) % 12 - 6
    octave = (pitch - alteration - NATURAL[letter]) // 12 - 1
    return LETTERS[letter], alteration, octave


def _note_text(letter: str, octave: int, accidental: str, ticks: int) -> str:
    name = letter if octave <= 4 else letter.lower()
    marks = "," * (4 - octave) if octave < 4 else "'" * (octave - 5) if octave > 5 else ""
    return f"{accidental}{name}{marks}{ticks if ticks != 1 else ''}"


def _rests(ticks: int) -> list[str]:
    out = []
    for size in REST_TICKS:
        while ticks >= size:
            out.append(f"z{size if size != 1 else ''}")
            ticks -= size
    return out


def _escape_field(text: str) -> str:
    # a header field ends at the line's end; "%" would start a comment
    return " ".join(text.split()).replace("\\", "\\\\").replace("%", "\\%")


def to_abc(melody: Melody) -> str:
    """The score as ABC text (one tune, ``X:1``), ending in a newline."""
    tonic_name = KEY_NAMES[melody.mode][melody.tonic]
    key_field = tonic_name + ("m" if melody.mode == "minor" else "")
    if melody.metre == "6/8":
        beat, per_minute = "3/8", round(melody.tempo_bpm / 1.5)
    else:
        beat, per_minute = "1/4", round(melody.tempo_bpm)
    out = ["X:1", f"T:{_escape_field(melody.title) or 'Untitled'}", f"M:{melody.metre}", "L:1/16",
           f"Q:{beat}={per_minute}", f"K:{key_field}"]
    if not melody.notes:
        out.append("z16|]")
        return "\n".join(out) + "\n"
    signature = _signature(tonic_name, melody.mode)
    bar = melody.bar_ticks
    words = melody.lyrics.words
    carried: dict[tuple[str, int], int] = {}
    clock = 0                      # ticks written so far, from the first note
    next_bar = melody.pickup if melody.pickup else bar

    def advance(ticks: int, tokens: list[str]) -> None:
        nonlocal clock, next_bar
        clock += ticks
        if clock == next_bar:
            tokens.append("|")
            next_bar += bar
            carried.clear()

    lines: dict[int, list] = {}
    for note in melody.notes:
        lines.setdefault(note.line, []).append(note)
    ordered = list(lines.values())
    for group_index, group in enumerate(ordered):
        music: list[str] = []
        lyric: list[str] = []
        for k, note in enumerate(group):
            letter, alteration, octave = _spell(note.pitch, tonic_name, melody.tonic, melody.mode)
            current = carried.get((letter, octave), signature[letter])
            accidental = "" if alteration == current else {-1: "_", 0: "=", 1: "^"}[alteration]
            carried[(letter, octave)] = alteration
            music.append(_note_text(letter, octave, accidental, note.ticks))
            advance(note.ticks, music)
            word = words[note.word]
            piece = word.syllables[note.syllable].text
            more = note.syllable + 1 < len(word.syllables) and word.syllables[note.syllable + 1].text
            lyric.append((piece or "_") + ("-" if more else ""))
            if k == len(group) - 1:
                following = ordered[group_index + 1][0].onset if group_index + 1 < len(ordered) else None
                end = following if following is not None else next_bar if clock != next_bar - bar else clock
                while clock < end:  # a rest never crosses a bar line
                    for rest in _rests(min(end, next_bar) - clock):
                        music.append(rest)
                        advance(int(rest[1:] or 1), music)
        text = " ".join(music)
        if group_index == len(ordered) - 1:
            text = text.rstrip("|").rstrip() + " |]"
        out.append(text)
        out.append("w:" + " ".join(_join_hyphens(lyric)))
    return "\n".join(out) + "\n"


def _join_hyphens(pieces: list[str]) -> list[str]:
    """Syllables of one word written as "coun-ted", words separated by spaces."""
    joined, current = [], ""
    for piece in pieces:
        current += piece
        if not piece.endswith("-"):
            joined.append(current)
            current = ""
    if current:
        joined.append(current)
    return joined
