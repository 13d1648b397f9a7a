"""A song's melody: a pure function of its title, its lyrics and MELODY_RULES.

How a melody is made (every random choice drawn from SplitMix64 keyed by the rules'
version, the title and the lyrics, so it is the same in every process, forever):

1. Metre, mode and tonic are drawn with the frequencies of the folk songs the model
   learned from (web/melody/model.json); the range (lowest and highest scale degree)
   is that of one of those songs, drawn the same way; the tonic's octave puts the
   middle of that range nearest G4; the tempo is drawn from MELODY_RULES' span.
2. Each lyric line is one phrase, each syllable one note (web/melody/syllables.py).
   A stanza's phrases are all as many bars long: enough for every line's stressed
   syllables to have a strong beat, and for its syllables at the corpus's median
   number of notes a bar, rounded up to an even number of bars.
3. Rhythm: the onsets of a phrase's notes are sampled (forward filtering, backward
   sampling over (syllable, tick) states) from the learned chances of each note
   length at each place in the bar, where a phrase starts before the downbeat and
   where its last note falls, with two hard rules: a stressed syllable starts on a
   strong beat (theory.is_strong) and no note crosses a bar line. Unstressed
   syllables before a line's first stress are its pickup.
4. Pitch: each phrase's scale degrees are sampled the same way from the learned
   Markov chain (next degree given the degree, the step before it and the next
   note's accent), ending on the phrase's cadence: the tonic for a stanza's last
   line, otherwise a learned phrase ending. Lines of a stanza whose end words rhyme
   end on the same degree (the tonic if one of them closes the stanza). In minor, a
   seventh degree that resolves up to the tonic is raised (the harmonic minor).
5. A line sung before (a chorus, a refrain) is sung to the same notes again.

``compose`` takes about 10-40 ms for a song of the bundled model (bench/melody_quality.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from web.melody import syllables as syl
from web.melody.model import Chain, MelodyModel, Rhythm, bucket_index, load
from web.melody.prng import SplitMix64
from web.melody.theory import METRES, MODES, NOTE_TICKS, TICKS_PER_QUARTER, degree_pitch, is_strong


@dataclass(frozen=True)
class Rules:
    """The composer's settings. A change here, in the code or in model.json is a new
    melody release: bump ``version`` (tests/unit/web/test_melody.py pins the output)."""
    version: str = "1"
    centre_pitch: int = 67              # G4: the middle of a melody's range lies nearest it
    quarter_bpm: tuple[int, int] = (76, 112)        # 2/4, 3/4, 4/4
    dotted_quarter_bpm: tuple[int, int] = (50, 72)  # 6/8, counted in dotted quarters
    min_range_degrees: int = 4          # ranges narrower than a fifth are not drawn
    max_phrase_bars: int = 16


MELODY_RULES = Rules()
# Major keys spelled with flats from Db to Ab and F# for six sharps; minor with sharps
# up to G#m, then Bbm and Ebm.
KEY_NAMES = {"major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
             "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")}


@dataclass(frozen=True)
class Note:
    pitch: int          # MIDI number
    onset: int          # sixteenth ticks from the first note
    ticks: int          # length in sixteenths
    line: int           # index into Melody.lyrics.lines
    word: int           # index into Melody.lyrics.words
    syllable: int       # the syllable's place in its word, from 0
    stressed: bool
    strong: bool        # starts on a strong beat
    phrase_end: bool    # the last note of its line


@dataclass(frozen=True)
class Melody:
    title: str
    metre: str
    mode: str
    tonic: int          # pitch class, 0 = C
    tonic_midi: int     # the tonic degree 0 is counted from
    tempo_bpm: float    # quarter notes a minute
    pickup: int         # ticks from the first note to the first downbeat
    notes: tuple[Note, ...]
    lyrics: syl.Lyrics = field(repr=False)
    release: str = ""

    @property
    def key(self) -> str:
        return f"{KEY_NAMES[self.mode][self.tonic]} {self.mode}"

    @property
    def bar_ticks(self) -> int:
        return METRES[self.metre][0]

    @property
    def end(self) -> int:
        """Ticks from the first note to the end of the last bar."""
        last = self.notes[-1].onset + self.notes[-1].ticks if self.notes else 0
        bar = self.bar_ticks
        return self.pickup + -(-(last - self.pickup) // bar) * bar if self.notes else 0


def release(rules: Rules = MELODY_RULES, model: MelodyModel | None = None) -> str:
    """The melody release: the rules' version and the model's digest; part of every
    ETag of a page or file that shows a melody."""
    return f"{rules.version}.{(model or load()).digest[:10]}"


# --- rhythm -------------------------------------------------------------------------------

def _phrase_bars(line_stresses: list[list[bool]], rhythm: Rhythm, rules: Rules) -> int:
    strong_per_bar = len(rhythm.strong)
    bars = 1
    for stresses in line_stresses:
        needed = max(math.ceil(sum(stresses) / strong_per_bar), math.ceil(len(stresses) / rhythm.notes_per_bar))
        bars = max(bars, needed)
    if bars > 1 and bars % 2:
        bars += 1
    return min(bars, rules.max_phrase_bars)


@lru_cache(maxsize=4096)
def _forward(rhythm: Rhythm, stresses: tuple[bool, ...], bars: int, max_pickup: int,
             strict: bool) -> tuple[list[float], ...] | None:
    """Forward messages of a line's onsets: entry i, tick index j (tick j - max_pickup from
    the phrase's first downbeat): the (scaled) chance that syllable i starts there. None
    when no onsets satisfy the rules."""
    bar, strong = rhythm.bar, set(rhythm.strong)
    start, stop = -max_pickup, bars * bar
    size = stop - start
    # lengths that end by the bar's end, per place in the bar
    fits = [[(ticks, p) for ticks, p in rhythm.ioi[position].items() if position + ticks <= bar]
            for position in range(bar)]
    strong_ok = [not strict or (t + start) % bar in strong for t in range(size)]
    first = [0.0] * size
    for pickup, p in rhythm.pickup.items():
        if pickup <= max_pickup and (not stresses[0] or strong_ok[-pickup - start]):
            first[-pickup - start] += p
    if not any(first):
        first[-start] = 1.0  # the downbeat is strong: always allowed
    alpha = [first]
    for needs_strong in stresses[1:]:
        previous, row = alpha[-1], [0.0] * size
        for index in range(size):
            weight = previous[index]
            if not weight:
                continue
            for ticks, p in fits[(index + start) % bar]:
                nxt = index + ticks
                if nxt < size and (not needs_strong or strong_ok[nxt]):
                    row[nxt] += weight * p
        total = sum(row)
        if not total:
            return None
        scale = 1.0 / total
        alpha.append([w * scale for w in row])  # kept in the cache: read, never written
    return tuple(alpha)


def _line_onsets(stresses: list[bool], bars: int, rhythm: Rhythm, max_pickup: int,
                 rng: SplitMix64, strict: bool = True) -> list[int] | None:
    """Onsets (ticks from the phrase's first downbeat; a pickup is negative) for a line
    of syllables, or None when the rules leave no way to sing it in ``bars`` bars."""
    alpha = _forward(rhythm, tuple(stresses), bars, max_pickup, strict)
    if alpha is None:
        return None
    bar, start = rhythm.bar, -max_pickup
    last_bar = (bars - 1) * bar - start
    final = rhythm.final_position
    ends = [(index, w * final[(index + start) % bar]) for index, w in enumerate(alpha[-1]) if w and index >= last_bar]
    if not ends:
        return None
    onsets = [rng.weighted(ends)]
    for row in reversed(alpha[:-1]):
        nxt = onsets[-1]
        choices = []
        for ticks in NOTE_TICKS:
            index = nxt - ticks
            if index >= 0 and row[index]:
                position = (index + start) % bar
                if position + ticks <= bar:
                    choices.append((index, row[index] * rhythm.ioi[position][ticks]))
        onsets.append(rng.weighted(choices))
    onsets.reverse()
    return [index + start for index in onsets]


def line_rhythm(stresses: list[bool], bars: int, rhythm: Rhythm, max_pickup: int,
                rng: SplitMix64) -> tuple[list[int], int]:
    """(onsets, bars): the stanza's bar count where it fits, else the nearest that
    does; stress on weak beats only where no bar count up to 16 more allows it."""
    for strict in (True, False):
        for candidate in [bars, *range(bars - 1, 0, -1), *range(bars + 1, bars + 17)]:
            onsets = _line_onsets(stresses, candidate, rhythm, max_pickup, rng, strict)
            if onsets is not None:
                return onsets, candidate
    raise AssertionError("a one-note-per-tick phrase always fits")  # pragma: no cover


def final_ticks(rhythm: Rhythm, position: int, room: int, rng: SplitMix64) -> int:
    """How long a phrase's last note is held, at most ``room`` ticks (to the next
    phrase's first note or the bar's end)."""
    choices = [(t, p) for t, p in rhythm.final_ticks[position].items() if t <= room and position + t <= rhythm.bar]
    return rng.weighted(choices) if choices else max(t for t in NOTE_TICKS if t <= room)


# --- pitch --------------------------------------------------------------------------------

CADENCE_NOTES = 4  # a phrase's last notes are drawn knowing where it ends


def line_degrees(accents: list[str], previous: int | None, cadence: int, chain: Chain,
                 rng: SplitMix64) -> tuple[list[int], int]:
    """Scale degrees for a phrase's notes (accent "S" strong or "w" weak each), the last
    one ``cadence``, each step drawn from the learned chain (``chain``: its tables over
    the melody's range); the last CADENCE_NOTES by forward filtering, backward sampling
    towards the cadence. ``previous``: the chain state the phrase follows, None for the
    song's first. Returns (degrees, the state after the last note)."""
    m = len(accents)
    tail = min(m, CADENCE_NOTES)
    degrees: list[int] = []
    state = previous
    for k in range(m - tail):  # free steps
        options = chain.first if state is None else chain.tables[accents[k]][state]
        state = rng.weighted((s2, p) for s2, p in options)
        degrees.append(chain.degree(state))
    beta = chain.towards(cadence, tuple(accents[m - tail:]))
    for i in range(tail):
        k = m - tail + i
        options = chain.first if state is None else chain.tables[accents[k]][state]
        state = rng.weighted((s2, p * beta[i][s2]) for s2, p in options)
        degrees.append(chain.degree(state))
    return degrees, state


# --- the song -----------------------------------------------------------------------------

def _normal(text: str) -> str:
    return " ".join(syl.WORD.findall(text.lower()))


def compose(title: str, lyrics: str, rules: Rules = MELODY_RULES, model: MelodyModel | None = None) -> Melody:
    """The melody of a finished song. Never raises on any text: lyrics without a word
    get a melody with no notes."""
    model = model or load()
    rng = SplitMix64("melody", rules.version, title, lyrics)
    metre = rng.weighted(model.metres.items())
    mode = rng.weighted(model.modes.items())
    tonic = rng.weighted(model.tonics.items())
    low, high = rng.weighted((a, c) for a, c in model.ambitus.items()
                             if a[0] <= 0 <= a[1] and a[1] - a[0] >= rules.min_range_degrees)
    if metre == "6/8":
        tempo = rng.uniform_int(*rules.dotted_quarter_bpm) * 1.5
    else:
        tempo = float(rng.uniform_int(*rules.quarter_bpm))
    middle = degree_pitch((low + high) // 2, tonic, mode)
    tonic_midi = tonic + 12 * round((rules.centre_pitch - middle) / 12)
    rhythm = model.rhythms[metre]
    bar = rhythm.bar
    chain = model.chain(low, high)
    words = syl.parse(lyrics)
    lines = words.lines
    the_release = release(rules, model)
    if not lines:
        return Melody(title, metre, mode, tonic, tonic_midi, tempo, 0, (), words, the_release)

    stanza_of = [line.stanza for line in lines]
    stanza_bars = {}
    for stanza in sorted(set(stanza_of)):
        members = [i for i, s in enumerate(stanza_of) if s == stanza]
        stanza_bars[stanza] = _phrase_bars([[s.stressed for s in words.syllables(i)] for i in members], rhythm, rules)
    cadences = _cadences(words, model, low, high, rng)

    notes: list[Note] = []
    memo: dict[str, tuple[list[int], int, list[int]]] = {}  # line text -> (onsets, bars, degrees)
    downbeat = 0           # absolute tick of the current phrase's first downbeat
    previous_state = None  # the pitch chain's state after the last note sung
    for index, line in enumerate(lines):
        sylls = words.syllables(index)
        stresses = [s.stressed for s in sylls]
        if notes:
            room = downbeat - notes[-1].onset - 2  # leave the last note at least an eighth
            max_pickup = max(0, min(bar - 1, room))
        else:
            max_pickup = bar - 1
        key = _normal(line.text)
        reuse = memo.get(key)
        if reuse is not None and -min(reuse[0][0], 0) <= max_pickup:
            onsets, bars, degrees = reuse
        else:
            onsets, bars = line_rhythm(stresses, stanza_bars[line.stanza], rhythm, max_pickup, rng)
            accents = ["S" if is_strong(metre, t % bar) else "w" for t in onsets]
            degrees, previous_state = line_degrees(accents, previous_state, cadences[index], chain, rng)
            memo.setdefault(key, (onsets, bars, degrees))
        if notes:  # hold the previous phrase's last note until this phrase (or a rest) begins
            last = notes[-1]
            room = downbeat + onsets[0] - last.onset
            ticks = final_ticks(rhythm, last.onset % bar, min(room, bar - last.onset % bar), rng)
            notes[-1] = _with_ticks(last, ticks)
        for k, (t, syllable) in enumerate(zip(onsets, sylls, strict=True)):
            nxt = onsets[k + 1] if k + 1 < len(onsets) else t + 1
            notes.append(Note(pitch=0, onset=downbeat + t, ticks=nxt - t, line=index, word=syllable.word,
                              syllable=syllable.index, stressed=syllable.stressed,
                              strong=is_strong(metre, (downbeat + t) % bar), phrase_end=k == len(onsets) - 1))
        pitches = _pitches(degrees, tonic_midi, mode)
        for k, pitch in enumerate(pitches):
            position = len(notes) - len(pitches) + k
            notes[position] = _with_pitch(notes[position], pitch)
        if reuse is not None and degrees is reuse[2]:
            step = bucket_index(degrees[-1] - degrees[-2]) if len(degrees) > 1 else 2
            previous_state = (degrees[-1] - low) * 5 + step
        downbeat += bars * bar
    last = notes[-1]
    notes[-1] = _with_ticks(last, final_ticks(rhythm, last.onset % bar, bar - last.onset % bar, rng))
    first = notes[0].onset
    shifted = tuple(_shifted(n, -first) for n in notes)
    return Melody(title, metre, mode, tonic, tonic_midi, tempo, -first, shifted, words, the_release)


def _cadences(words: syl.Lyrics, model: MelodyModel, low: int, high: int, rng: SplitMix64) -> list[int]:
    """Each line's last degree: the tonic closes a stanza and the song; rhyming lines of a
    stanza share one (the tonic when one of them closes it); others a learned ending."""
    lines = words.lines
    closing = {i for i, line in enumerate(lines) if i + 1 == len(lines) or lines[i + 1].stanza != line.stanza}
    inner = [(d, c) for d, c in model.cadence_inner.items() if low <= d <= high] or [(0, 1.0)]
    chosen: dict[tuple[int, str], int] = {}
    groups: dict[tuple[int, str], list[int]] = {}
    for i, line in enumerate(lines):
        if line.rhyme:
            groups.setdefault((line.stanza, line.rhyme), []).append(i)
    for group_key, members in groups.items():
        if any(i in closing for i in members):
            chosen[group_key] = 0
    cadences = []
    for i, line in enumerate(lines):
        group_key = (line.stanza, line.rhyme)
        if i in closing:
            cadences.append(0)
        elif line.rhyme and len(groups[group_key]) > 1:
            if group_key not in chosen:
                chosen[group_key] = rng.weighted(inner)
            cadences.append(chosen[group_key])
        else:
            cadences.append(rng.weighted(inner))
    return cadences


def _pitches(degrees: list[int], tonic_midi: int, mode: str) -> list[int]:
    pitches = [degree_pitch(d, tonic_midi, mode) for d in degrees]
    if mode == "minor":
        for k in range(len(degrees) - 1):
            if degrees[k] % 7 == 6 and degrees[k + 1] == degrees[k] + 1:
                pitches[k] += 1  # the leading tone
    return pitches


def _with_ticks(note: Note, ticks: int) -> Note:
    return Note(note.pitch, note.onset, ticks, note.line, note.word, note.syllable, note.stressed,
                note.strong, note.phrase_end)


def _with_pitch(note: Note, pitch: int) -> Note:
    return Note(pitch, note.onset, note.ticks, note.line, note.word, note.syllable, note.stressed,
                note.strong, note.phrase_end)


def _shifted(note: Note, by: int) -> Note:
    return Note(note.pitch, note.onset + by, note.ticks, note.line, note.word, note.syllable, note.stressed,
                note.strong, note.phrase_end)


__all__ = ["MELODY_RULES", "MODES", "Melody", "Note", "Rules", "TICKS_PER_QUARTER", "compose", "release"]
