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


_NUMBER = {"type": "number"}
_NOTE = {"type": "object",
         "required": ["pitch", "name", "onset", "duration", "line", "word", "syllable", "syllable_index", "stressed",
                      "strong_beat"],
         "properties": {"pitch": {"type": "integer", "minimum": 0, "maximum": 127, "description": "MIDI number"},
                        "name": {"type": "string", "description": "scientific pitch name, e.g. G4"},
                        "onset": {**_NUMBER, "description": "quarter notes from the first note"},
                        "duration": {**_NUMBER, "description": "quarter notes"},
                        "line": {"type": "integer", "description": "index into lines"},
                        "word": {"type": "integer", "description": "index into words"},
                        "syllable": {"type": "string", "description": "the text under the note; empty where the "
                                                                      "word's last piece is held over it"},
                        "syllable_index": {"type": "integer", "description": "the syllable's place in its word"},
                        "stressed": {"type": "boolean"}, "strong_beat": {"type": "boolean"}}}
SCHEMA = {
    "type": "object",
    "required": ["id", "model_release", "melody_release", "key", "tonic", "mode", "metre", "tempo_bpm", "pickup",
                 "length", "lines", "words", "notes", "abc"],
    "properties": {
        "id": {"type": "string"}, "model_release": {"type": "string"},
        "melody_release": {"type": "string", "description": "the composer's rules version and model digest"},
        "key": {"type": "string", "description": 'e.g. "G major"'}, "tonic": {"type": "string"},
        "mode": {"type": "string", "enum": ["major", "minor"]},
        "metre": {"type": "string", "enum": ["2/4", "3/4", "4/4", "6/8"]},
        "tempo_bpm": {**_NUMBER, "description": "quarter notes a minute"},
        "pickup": {**_NUMBER, "description": "quarter notes before the first downbeat"},
        "length": {**_NUMBER, "description": "quarter notes from the first note to the end"},
        "lines": {"type": "array", "items": {"type": "object", "required": ["text", "first_note", "notes"],
                                             "properties": {"text": {"type": "string"},
                                                            "first_note": {"type": "integer"},
                                                            "notes": {"type": "integer"}}}},
        "words": {"type": "array", "items": {"type": "object", "required": ["text", "line"],
                                             "properties": {"text": {"type": "string"}, "line": {"type": "integer"}}}},
        "notes": {"type": "array", "items": _NOTE},
        "abc": {"type": "string", "description": "the score in ABC notation, lyrics under the notes"},
    },
}
