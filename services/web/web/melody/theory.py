"""The few facts of Western tonal music the composer, its training and its bench share:
the metres it writes, where their strong beats are, the scales, and how a scale degree
becomes a pitch. Time is counted in ticks of a sixteenth note.

Strong beats are the downbeat and, in 4/4 and 6/8, the middle of the bar (beat 3,
the second dotted quarter): the primary and secondary accents of the usual metric
hierarchy (Lerdahl & Jackendoff, *A Generative Theory of Tonal Music*, 1983, ch. 4).
"""
from __future__ import annotations

TICKS_PER_QUARTER = 4
# ticks per bar and the strong positions in it, per metre
METRES: dict[str, tuple[int, tuple[int, ...]]] = {
    "2/4": (8, (0,)),
    "3/4": (12, (0,)),
    "4/4": (16, (0, 8)),
    "6/8": (12, (0, 6)),
}
# Note lengths one written note can have (no ties): 1/16, 1/8, dotted 1/8, 1/4,
# dotted 1/4, 1/2, dotted 1/2, whole.
NOTE_TICKS = (1, 2, 3, 4, 6, 8, 12, 16)
MODES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Pitch classes (semitones above the tonic) counted as "in the key": the scale; in
# minor also the raised sixth and seventh of the melodic and harmonic minor.
IN_KEY = {"major": frozenset(MODES["major"]), "minor": frozenset(MODES["minor"]) | {9, 11}}
# Tones of the tonic and dominant triads (I and V; V is major in minor too).
CHORD_TONES = {"major": frozenset({0, 4, 7, 11, 2}), "minor": frozenset({0, 3, 7, 11, 2})}
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def is_strong(metre: str, bar_tick: int) -> bool:
    """Whether a note starting ``bar_tick`` sixteenths into a bar of ``metre`` is on a
    strong beat. KeyError for a metre outside METRES."""
    return bar_tick in METRES[metre][1]


def degree_pitch(degree: int, tonic_midi: int, mode: str) -> int:
    """MIDI pitch of diatonic ``degree`` (0 = ``tonic_midi``, 7 = an octave above,
    -1 = the seventh below) in ``mode``."""
    octave, step = divmod(degree, 7)
    return tonic_midi + 12 * octave + MODES[mode][step]


def pitch_degree(pitch: int, tonic_midi: int, mode: str) -> int:
    """The diatonic degree nearest to MIDI ``pitch`` (a chromatic note goes to the
    degree below); the inverse of degree_pitch on the scale's own notes."""
    octave, semitones = divmod(pitch - tonic_midi, 12)
    scale = MODES[mode]
    step = max(i for i, s in enumerate(scale) if s <= semitones)
    return 7 * octave + step


def pitch_name(pitch: int) -> str:
    """``60`` -> ``"C4"`` (scientific pitch notation, sharps and flats as commonly spelled)."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"
