"""A melody as a Standard MIDI File (format 0, one track, 480 ticks a quarter note),
written by mido: title, metre, key and tempo as meta events, each note on channel 1
(General MIDI program 74, flute) preceded by a lyrics meta event with its syllable,
so karaoke players show the words. Meta text is UTF-8.
"""
from __future__ import annotations

import io

import mido

from web.melody.compose import KEY_NAMES, Melody

TICKS_PER_BEAT = 480
PER_SIXTEENTH = TICKS_PER_BEAT // 4
FLUTE = 73  # General MIDI program 74, counted from 0


def _text(value: str) -> str:
    # mido encodes meta text as latin-1 unless a MidiFile's charset swaps a module-wide
    # setting while it saves (not thread-safe); a string of the UTF-8 bytes' latin-1
    # characters writes those UTF-8 bytes under the default, in any thread.
    return value.encode("utf-8").decode("latin-1")


def to_midi(melody: Melody) -> bytes:
    """The melody's MIDI file, byte for byte the same for the same melody."""
    track = mido.MidiTrack()
    numerator, denominator = (int(x) for x in melody.metre.split("/"))
    key = KEY_NAMES[melody.mode][melody.tonic] + ("m" if melody.mode == "minor" else "")
    track.append(mido.MetaMessage("track_name", name=_text(melody.title), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator,
                                  clocks_per_click=36 if denominator == 8 else 24, time=0))
    track.append(mido.MetaMessage("key_signature", key=key, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(melody.tempo_bpm), time=0))
    track.append(mido.Message("program_change", channel=0, program=FLUTE, time=0))
    words = melody.lyrics.words
    now = 0
    for note in melody.notes:
        start, end = note.onset * PER_SIXTEENTH, (note.onset + note.ticks) * PER_SIXTEENTH
        word = words[note.word]
        piece = word.syllables[note.syllable].text
        last_of_word = note.syllable + 1 == len(word.syllables)
        text = (piece or "") + (" " if last_of_word else "-" if word.syllables[note.syllable + 1].text else "")
        track.append(mido.MetaMessage("lyrics", text=_text(text), time=start - now))
        track.append(mido.Message("note_on", channel=0, note=note.pitch, velocity=96 if note.strong else 80, time=0))
        track.append(mido.Message("note_off", channel=0, note=note.pitch, velocity=0, time=end - start))
        now = end
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()
