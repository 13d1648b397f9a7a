"""The composer (web/melody/): syllables and stress, where stressed syllables fall,
phrases, cadences, repeated stanzas, the score and MIDI it writes, and that a song's
melody is the same bytes in every process."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys

import mido
import pytest

from web.melody import syllables
from web.melody.abc import to_abc
from web.melody.compose import MELODY_RULES, compose, release
from web.melody.document import to_document
from web.melody.midi import to_midi
from web.melody.theory import METRES, NOTE_TICKS, TICKS_PER_QUARTER, is_strong

BALLAD = """The water is wide, I cannot get o'er
And neither have I wings to fly
Give me a boat that can carry two
And both shall row, my love and I

O love is handsome and love is kind
And love's a jewel when first it's new
But love grows old and waxes cold
And fades away like morning dew
"""
CHORUS = """Down by the river where the willows grow
I met my darling long ago

Sing me home, sing me home
Over the hills and the foam

She wore a ribbon in her golden hair
And every morning she was waiting there

Sing me home, sing me home
Over the hills and the foam
"""
SONGS = [("The Water Is Wide", BALLAD), ("Sing Me Home", CHORUS), ("Song of 24", "I counted to 2024 in the rain\n"
          "and every number sang\n\nla la 1\n"), ("Handsome Nell", "Once I lov'd a bonie lass,\nAy, and I love her "
          "still;\nAnd whilst that virtue warms my breast,\nI'll love my handsome Nell.\n")]
SONGS += [(f"Titled {n}", f"line {n} of a song that goes on\n" * (n % 5 + 1)) for n in range(12)]


# --- syllables and stress -------------------------------------------------------------------

@pytest.mark.parametrize("word,expected", [
    ("counted", (("count", True), ("ed", False))),
    ("remember", (("re", False), ("mem", True), ("ber", False))),
    ("love", (("love", True),)),
    ("the", (("the", False),)),
    ("and", (("and", False),)),
    ("every", (("ev", True), ("ery", False), ("", False))),  # CMU: three syllables; the patterns find two pieces
])
def test_syllables_and_stress_come_from_the_cmu_dictionary(word, expected):
    assert syllables.word_syllables(word) == expected


def test_words_the_dictionary_lacks_are_split_by_hyphenation_patterns():
    assert [p for p, _ in syllables.word_syllables("Tibbie")] == ["Tib", "bie"]
    assert syllables.word_syllables("Tibbie")[0][1] and not syllables.word_syllables("Tibbie")[1][1]
    assert syllables.word_syllables("2024") == (("2024", True),)


def test_lyrics_are_lines_of_words_in_stanzas_without_labels():
    parsed = syllables.parse("Chorus:\nSing me home\n\n[Verse 2]\nOver the hills\n...\n")
    assert [line.text for line in parsed.lines] == ["Sing me home", "Over the hills"]
    assert [line.stanza for line in parsed.lines] == [0, 1]
    assert [w.text for w in parsed.words] == ["Sing", "me", "home", "Over", "the", "hills"]
    assert syllables.parse("").lines == () and syllables.parse("... !!!\n\n").lines == ()


# --- the melody -----------------------------------------------------------------------------

@pytest.mark.parametrize("title,lyrics", SONGS)
def test_every_syllable_gets_one_note_in_order(title, lyrics):
    melody = compose(title, lyrics)
    expected = [(w.line, s.word, s.index) for w in melody.lyrics.words for s in w.syllables]
    assert [(n.line, n.word, n.syllable) for n in melody.notes] == expected
    ends = [i for i, n in enumerate(melody.notes) if n.phrase_end]
    assert ends == [max(i for i, n in enumerate(melody.notes) if n.line == line)
                    for line in range(len(melody.lyrics.lines))], "each lyric line is one phrase"


@pytest.mark.parametrize("title,lyrics", SONGS)
def test_stressed_syllables_fall_on_strong_beats_and_no_note_crosses_a_bar_line(title, lyrics):
    melody = compose(title, lyrics)
    bar = METRES[melody.metre][0]
    for note in melody.notes:
        position = (note.onset - melody.pickup) % bar
        assert note.strong == is_strong(melody.metre, position)
        if note.stressed:
            assert note.strong, (melody.lyrics.words[note.word].text, note)
        assert note.ticks in NOTE_TICKS
        assert position + note.ticks <= bar, "a note ends by its bar line"
    onsets = [n.onset for n in melody.notes]
    assert all(a.onset + a.ticks <= b.onset for a, b in zip(melody.notes, melody.notes[1:]))
    assert onsets[0] == 0


@pytest.mark.parametrize("title,lyrics", SONGS)
def test_stanzas_and_the_song_end_on_the_tonic_and_rhymes_share_a_cadence(title, lyrics):
    melody = compose(title, lyrics)
    lines = melody.lyrics.lines
    last = {n.line: n for n in melody.notes if n.phrase_end}
    assert (melody.notes[-1].pitch - melody.tonic) % 12 == 0
    for i, line in enumerate(lines):
        if i + 1 == len(lines) or lines[i + 1].stanza != line.stanza:
            assert (last[i].pitch - melody.tonic) % 12 == 0, "a stanza closes on the tonic"
    for i, a in enumerate(lines):
        for j in range(i + 1, len(lines)):
            b = lines[j]
            if a.stanza == b.stanza and a.rhyme and a.rhyme == b.rhyme:
                assert last[i].pitch == last[j].pitch, (a.text, b.text)


def test_the_ballads_rhymes_are_found_and_end_alike():
    parsed = syllables.parse(BALLAD)
    rhymes = [line.rhyme for line in parsed.lines]
    assert rhymes[1] == rhymes[3] and rhymes[5] == rhymes[7]  # fly / I, new / dew
    melody = compose("The Water Is Wide", BALLAD)
    last = {n.line: n.pitch for n in melody.notes if n.phrase_end}
    assert last[1] == last[3] and last[5] == last[7]


def test_a_repeated_stanza_repeats_its_tune():
    melody = compose("Sing Me Home", CHORUS)
    lines = melody.lyrics.lines
    chorus = [i for i, line in enumerate(lines) if line.stanza in (1, 3)]
    first = [(n.pitch, n.ticks, n.onset) for n in melody.notes if n.line in chorus[:2]]
    second = [(n.pitch, n.ticks, n.onset) for n in melody.notes if n.line in chorus[2:]]
    assert len(first) == len(second) > 0
    shift = second[0][2] - first[0][2]
    # the same notes, the same rhythm; only the hold of the stanza's last note may differ
    assert [(p, t, o + shift) for p, t, o in first[:-1]] == second[:-1]
    assert first[-1][0] == second[-1][0]
    verses = [(n.pitch, n.ticks) for n in melody.notes if n.line in (0, 1)]
    assert verses != [(n.pitch, n.ticks) for n in melody.notes if n.line in (4, 5)], "other words, another tune"


def test_key_metre_tempo_and_range_are_the_songs_own_and_vary_between_songs():
    melodies = [compose(f"Song {n}", f"a line for song {n}\nand another one\n") for n in range(40)]
    assert len({m.metre for m in melodies}) >= 3 and len({m.key for m in melodies}) >= 5
    assert len({m.tempo_bpm for m in melodies}) >= 10
    for m in melodies:
        assert m.metre in METRES and m.mode in ("major", "minor")
        assert 50 <= min(n.pitch for n in m.notes) and max(n.pitch for n in m.notes) <= 84
    again = compose("Song 3", "a line for song 3\nand another one\n")
    assert again == melodies[3]


def test_in_minor_the_seventh_is_raised_only_on_its_way_to_the_tonic():
    for n in range(60):
        melody = compose(f"Minor {n}", BALLAD)
        if melody.mode != "minor":
            continue
        pitches = [note.pitch for note in melody.notes]
        for a, b in zip(pitches, pitches[1:] + [None]):
            if (a - melody.tonic) % 12 == 11:
                assert b is not None and b == a + 1
        return
    pytest.fail("no minor melody among 60 songs")


def test_a_song_without_words_has_an_empty_melody():
    melody = compose("Silence", "\n\n... !!!\n")
    assert melody.notes == () and to_abc(melody).endswith("z16|]\n")
    assert to_document(melody)["notes"] == []
    assert mido.MidiFile(file=io.BytesIO(to_midi(melody))).tracks[0][-1].type == "end_of_track"


# --- the score and the MIDI file --------------------------------------------------------------

@pytest.mark.parametrize("title,lyrics", SONGS[:6])
def test_the_abc_score_reads_back_as_the_same_notes_and_words(title, lyrics):
    music21 = pytest.importorskip("music21")  # a development dependency (requirements-dev.txt)
    melody = compose(title, lyrics)
    text = to_abc(melody)
    score = music21.converter.parse("%abc-2.1\n" + text, format="abc")
    notes = list(score.flatten().notes)
    assert [n.pitch.midi for n in notes] == [n.pitch for n in melody.notes]
    assert [n.quarterLength * TICKS_PER_QUARTER for n in notes] == [n.ticks for n in melody.notes]
    sung = [line[2:] for line in text.splitlines() if line.startswith("w:")]
    assert len(sung) == len(melody.lyrics.lines)
    assert " ".join(sung).replace("-", "").replace(" _", "").split() == [w.text for w in melody.lyrics.words]
    bar = METRES[melody.metre][0]
    measures = list(score.parts[0].getElementsByClass("Measure")) if score.parts else []
    assert all(m.duration.quarterLength * TICKS_PER_QUARTER <= bar for m in measures)


def test_the_title_cannot_break_the_score():
    text = to_abc(compose("100% sure\nK:C# \\ done", "one line\n"))
    assert "T:100\\% sure K:C# \\\\ done\n" in text and text.count("\nK:") == 1


def test_the_midi_file_has_the_notes_tempo_key_and_lyrics():
    melody = compose("The Water Is Wide", BALLAD)
    midi = mido.MidiFile(file=io.BytesIO(to_midi(melody)))
    track = midi.tracks[0]
    assert [m.note for m in track if m.type == "note_on"] == [n.pitch for n in melody.notes]
    tempo = next(m.tempo for m in track if m.type == "set_tempo")
    assert abs(mido.tempo2bpm(tempo) - melody.tempo_bpm) < 0.01
    assert next(m for m in track if m.type == "time_signature").numerator == int(melody.metre.split("/")[0])
    total = sum(m.time for m in track)
    assert total == (melody.notes[-1].onset + melody.notes[-1].ticks) * midi.ticks_per_beat // TICKS_PER_QUARTER
    words = "".join(m.text for m in track if m.type == "lyrics").replace("-", "").split()
    assert words == [w.text for w in melody.lyrics.words]


def test_midi_lyrics_keep_any_script():
    midi = mido.MidiFile(file=io.BytesIO(to_midi(compose("Über", "Café naïve 東京\n"))))
    raw = "".join(m.text for m in midi.tracks[0] if m.type == "lyrics").encode("latin-1").decode("utf-8")
    assert raw.split() == ["Café", "naïve", "東京"]


# --- the same bytes everywhere ------------------------------------------------------------------

PRINT_DIGESTS = """
import hashlib, json, sys
from web.melody.compose import compose
from web.melody.document import to_document
from web.melody.midi import to_midi
for title, lyrics in json.loads(sys.stdin.read()):
    melody = compose(title, lyrics)
    document = json.dumps(to_document(melody), sort_keys=True, ensure_ascii=False).encode()
    print(hashlib.sha256(document).hexdigest(), hashlib.sha256(to_midi(melody)).hexdigest())
"""


def _digests_here(songs) -> list[str]:
    out = []
    for title, lyrics in songs:
        melody = compose(title, lyrics)
        document = json.dumps(to_document(melody), sort_keys=True, ensure_ascii=False).encode()
        out.append(f"{hashlib.sha256(document).hexdigest()} {hashlib.sha256(to_midi(melody)).hexdigest()}")
    return out


def test_a_song_gets_byte_identical_json_and_midi_in_every_process():
    songs = SONGS[:6]
    runs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", PRINT_DIGESTS], input=json.dumps(songs), env=env,
                              capture_output=True, text=True, timeout=120, check=True)
        runs.append(done.stdout.split("\n")[:-1])
    assert runs[0] == runs[1] == _digests_here(songs)
    assert len(set(runs[0])) == len(songs)


# One song's score and MIDI under each melody release (rules version and model digest):
# a change of the composer's code that changes a melody must come with a new
# MELODY_RULES.version, so no CDN or browser keeps the old score under the same ETag.
PINNED = {"1.7be6d28baf": "1537ec02004cb996996debe6a9e28c08e68481f992ea300f9b07097a0f85ccbd"}


def test_a_changed_melody_is_a_new_release():
    melody = compose("The Water Is Wide", BALLAD)
    digest = hashlib.sha256(to_midi(melody) + to_abc(melody).encode()).hexdigest()
    assert release().startswith(MELODY_RULES.version + ".")
    assert PINNED.get(release()) == digest, f"melody release {release()} writes {digest}: new output needs a new " \
                                            "MELODY_RULES.version (and its line here)"
