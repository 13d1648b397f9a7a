"""A melody as the JSON API answers it (GET /api/songs/<id>/melody; its schema is in
web/openapi.py). Times are in quarter notes from the first note; seconds are
quarters x 60 / tempo_bpm."""
from __future__ import annotations

from web.melody.abc import to_abc
from web.melody.compose import Melody
from web.melody.theory import TICKS_PER_QUARTER, pitch_name


def to_document(melody: Melody) -> dict:
    """The melody as a JSON-ready dict: key, metre, tempo, words and lines of the
    lyrics, every note (MIDI pitch, onset, duration, the syllable it carries) and the
    ABC score."""
    words = melody.lyrics.words
    pickup = melody.pickup / TICKS_PER_QUARTER
    notes = []
    for note in melody.notes:
        word = words[note.word]
        notes.append({
            "pitch": note.pitch,
            "name": pitch_name(note.pitch),
            "onset": note.onset / TICKS_PER_QUARTER,
            "duration": note.ticks / TICKS_PER_QUARTER,
            "line": note.line,
            "word": note.word,
            "syllable": word.syllables[note.syllable].text,
            "syllable_index": note.syllable,
            "stressed": note.stressed,
            "strong_beat": note.strong,
        })
    first_note: dict[int, int] = {}
    for index, note in enumerate(melody.notes):
        first_note.setdefault(note.line, index)
    return {
        "melody_release": melody.release,
        "key": melody.key,
        "tonic": melody.key.split()[0],
        "mode": melody.mode,
        "metre": melody.metre,
        "tempo_bpm": melody.tempo_bpm,
        "pickup": pickup,
        "length": melody.end / TICKS_PER_QUARTER,
        "lines": [{"text": line.text, "first_note": first_note.get(i, 0),
                   "notes": sum(1 for n in melody.notes if n.line == i)} for i, line in enumerate(melody.lyrics.lines)],
        "words": [{"text": w.text, "line": w.line} for w in words],
        "notes": notes,
        "abc": to_abc(melody),
    }
