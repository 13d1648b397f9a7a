"""The real melodies the composer learns from and is measured against: the European
folk songs of the Essen Folksong Collection as music21 ships them
(``music21/corpus/essenFolksong/*.abc``, Seymour Schlien's ABC encodings of the EsAC
database, distributed with music21 for non-commercial use; see that folder's
license.txt), read with music21 (a development dependency: the web never imports it).

Each tune becomes a ``Tune``: its metre, tonic, mode and notes, each note with its
MIDI pitch, onset and duration in quarter notes from the first downbeat, its place in
the bar, and whether it ends a phrase. The Essen encodings write one phrase per line
of ABC, so phrase ends come from the line breaks (music21's parse drops them; each
line's notes are counted with music21's own ABC tokenizer).

The 100 held-out tunes (``split``) are those with the smallest SHA-256 of their
Essen number among the usable ones: never learned from, always the same.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

# Opus files of European songs; the Chinese collections (han*), the test files and the
# variant studies are left out: another tonal system, or the same tune several times.
OPUS_FILES = ("altdeu10", "altdeu20", "ballad10", "ballad20", "ballad30", "ballad40", "ballad50",
              "ballad60", "ballad70", "ballad80", "boehme10", "boehme20", "dva0", "erk10", "erk20",
              "erk30", "erk5", "fink0", "folkHaydn", "irl", "kinder0", "lot", "lux", "zuccal0")
METRES = ("2/4", "3/4", "4/4", "6/8")  # the metres the composer writes in
HELD_OUT = 100
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
_TONIC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11, "H": 11}


@dataclass(frozen=True)
class Note:
    pitch: int             # MIDI number
    onset: Fraction        # quarter notes from the first full bar's downbeat (a pickup is negative)
    duration: Fraction     # quarter notes, ties merged
    bar_offset: Fraction   # quarter notes from the start of its bar
    phrase_end: bool       # the last note of an ABC line (an Essen phrase)


@dataclass(frozen=True)
class Tune:
    ident: str             # "<opus>:<Essen number>"
    title: str
    metre: str             # one of METRES
    tonic: int             # pitch class 0-11 (the K: field, the Essen "key" = the final's name)
    mode: str              # "major" or "minor", from the third above the tonic
    notes: tuple[Note, ...]


def corpus_dir() -> Path:
    import music21
    return Path(music21.__file__).parent / "corpus" / "essenFolksong"


def _field(header: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", header, re.M)
    return match.group(1).strip() if match else ""


def _tonic(key: str) -> int | None:
    match = re.match(r"([A-H])(b|#|s)?", key)
    if not match:
        return None
    pc = _TONIC[match.group(1)]
    if match.group(2) == "b" or (match.group(2) == "s" and key.startswith("Es")):
        pc -= 1
    elif match.group(2) == "#":
        pc += 1
    return pc % 12


def _line_note_counts(header: str, body_lines: list[str]) -> list[int]:
    """Notes (not rests) written on each line, counted by music21's ABC tokenizer."""
    from music21 import abcFormat
    counts = []
    for line in body_lines:
        handler = abcFormat.ABCHandler(abcVersion=(2, 1, 0))
        handler.tokenize(line)
        counts.append(sum(1 for t in handler.tokens
                          if type(t) is abcFormat.ABCNote and not t.src.lstrip("~.HLMOPSTuv").startswith(("z", "x"))))
    return counts


def parse_tune(opus: str, text: str) -> Tune | None:
    """One ABC tune as a Tune, or None when it is outside what the composer writes
    (another metre, chords, no clear phrases) or music21 cannot read it."""
    from music21 import converter
    header_lines, body_lines = [], []
    for line in text.splitlines():
        if not body_lines and re.match(r"^[A-Za-z]:", line):
            header_lines.append(line)
        elif line.strip() and not line.startswith("%"):
            body_lines.append(line)
    header = "\n".join(header_lines)
    metre, tonic = _field(header, "M"), _tonic(_field(header, "K"))
    if metre not in METRES or tonic is None or not body_lines or "[" in "".join(body_lines):
        return None
    counts = _line_note_counts(header, body_lines)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse("%abc-2.1\n" + text, format="abc")
    except Exception:
        return None
    parts = getattr(score, "parts", None)
    part = parts[0] if parts else score
    raw = []  # (note, measure) in order, ties not merged: the tokenizer counts them so
    for measure in part.getElementsByClass("Measure"):
        for element in measure.notes:
            if element.isChord:
                return None
            raw.append((element, measure))
    if sum(counts) != len(raw) or len(raw) < 8:
        return None
    ends, total = set(), 0
    for count in counts:
        total += count
        if count:
            ends.add(total - 1)
    measures = list(part.getElementsByClass("Measure"))
    first_full = next((m for m in measures if not m.paddingLeft), measures[0])
    origin = Fraction(first_full.offset).limit_denominator(64)
    notes: list[Note] = []
    for index, (element, measure) in enumerate(raw):
        tie = element.tie.type if element.tie is not None else None
        onset = Fraction(measure.offset + element.offset).limit_denominator(64) - origin
        duration = Fraction(element.quarterLength).limit_denominator(64)
        if notes and tie in ("stop", "continue") and notes[-1].pitch == element.pitch.midi:
            last = notes[-1]
            notes[-1] = Note(last.pitch, last.onset, last.duration + duration, last.bar_offset,
                             last.phrase_end or index in ends)
            continue
        bar_offset = Fraction(element.offset + measure.paddingLeft).limit_denominator(64)
        notes.append(Note(element.pitch.midi, onset, duration, bar_offset, index in ends))
    pcs = [(n.pitch - tonic) % 12 for n in notes]
    mode = "minor" if pcs.count(3) > pcs.count(4) else "major"
    number = _field(header, "N") or _field(header, "X")
    return Tune(f"{opus}:{number}", _field(header, "T"), metre, tonic, mode, tuple(notes))


def iter_texts() -> Iterator[tuple[str, str]]:
    """(opus, ABC text of one tune) for every tune of OPUS_FILES, in file order."""
    root = corpus_dir()
    for opus in OPUS_FILES:
        text = (root / f"{opus}.abc").read_text(encoding="latin-1")
        for tune in re.split(r"\n(?=X:)", text):
            if tune.lstrip().startswith("X:"):
                yield opus, tune


def _held_out_key(opus: str, text: str) -> str:
    number = _field(text, "N") or _field(text, "X")
    return hashlib.sha256(f"{opus}:{number}".encode()).hexdigest()


def _held_out(texts: list[tuple[str, str]]) -> tuple[list[Tune], set[int]]:
    ranked = sorted(range(len(texts)), key=lambda i: _held_out_key(*texts[i]))
    held: list[Tune] = []
    held_index: set[int] = set()
    for i in ranked:
        if len(held) == HELD_OUT:
            break
        tune = parse_tune(*texts[i])
        held_index.add(i)  # a tune that is no Tune is left out of training as well: it was looked at
        if tune is not None:
            held.append(tune)
    return held, held_index


def held_out(limit: int = HELD_OUT) -> list[Tune]:
    """The first ``limit`` held-out tunes alone (what bench/melody_quality.py compares with)."""
    texts = list(iter_texts())
    ranked = sorted(range(len(texts)), key=lambda i: _held_out_key(*texts[i]))
    held: list[Tune] = []
    for i in ranked:
        if len(held) >= min(limit, HELD_OUT):
            break
        tune = parse_tune(*texts[i])
        if tune is not None:
            held.append(tune)
    return held


def split(limit: int | None = None) -> tuple[list[Tune], list[Tune]]:
    """(training tunes, the HELD_OUT held-out tunes). ``limit``: read only that many
    training tunes (quick runs); the held-out ones are the same either way."""
    texts = list(iter_texts())
    held, held_index = _held_out(texts)
    training: list[Tune] = []
    for i, (opus, text) in enumerate(texts):
        if i in held_index:
            continue
        if limit is not None and len(training) >= limit:
            break
        tune = parse_tune(opus, text)
        if tune is not None:
            training.append(tune)
    return training, held


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description="List the held-out tunes (Essen numbers, metre, key, notes).")
    parser.add_argument("--limit", type=int, default=HELD_OUT, help=f"at most this many (default {HELD_OUT})")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error(f"argument --limit: must be at least 1, not {args.limit}")
    for tune in held_out(args.limit):
        print(f"{tune.ident}\t{tune.metre}\t{tune.tonic}\t{tune.mode}\t{len(tune.notes)}\t{tune.title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
