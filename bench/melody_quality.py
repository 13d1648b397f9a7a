"""Do the songs' tunes sing like real melodies? Composes a melody (web/melody/) for
the lyrics of 100 real songs and measures it beside 100 real folk melodies that the
melody model never learned from.

    .venv/bin/python bench/melody_quality.py [--corpus ../shared/corpus/songs.csv] [--songs 100] [--smoke]

Lyrics: the 100 real songs bench/model_quality.py holds out (training.corpus's
validation split of the lyrics corpus, read from outside the repository at bench
time), and, when bench/results/model-quality.json holds them, the bundled model's
songs 1-100 as the site serves them. Real melodies: the 100 Essen folk songs
tools/melody_corpus.py holds out of the model's training (music21's corpus).

Per melody: the share of intervals that are steps (at most 2 semitones, repeats
included); the range in semitones; the share of notes in the key (theory.IN_KEY);
the share of phrases (lyric lines; Essen's lines) ending on a tone of the tonic or
dominant triad (theory.CHORD_TONES); whether the last note is the tonic. Reported as
the mean and the 10th-90th percentile over the melodies; a composed figure is
"within" when its mean lies inside the real melodies' 10th-90th percentile (for the
last-note share: within two standard errors of the real share, or above it).

Also: every syllable has a note and every note a syllable; the share of stressed
syllables (web/melody/syllables.py) on strong beats (theory.is_strong; for other
metres the downbeat and, in 4/4-, 6/8- and 12/8-like metres, the half bar), beside
the same figure for the corpus's English songs with lyrics (music21's leadSheet,
johnson_j_r, beach); the time to compose a melody (after the dictionary is loaded)
and the size of its ABC score, MIDI file and JSON document.

Writes bench/results/melody-quality.json and prints a table and five melodies.
--smoke: 5 of the bundled model's songs (no corpus), 5 real melodies, one English song,
results thrown away.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.model_quality import held_out_songs  # noqa: E402
from tools import melody_corpus  # noqa: E402
from web.melody import syllables  # noqa: E402
from web.melody.abc import to_abc  # noqa: E402
from web.melody.compose import compose, release  # noqa: E402
from web.melody.document import to_document  # noqa: E402
from web.melody.midi import to_midi  # noqa: E402
from web.melody.theory import CHORD_TONES, IN_KEY, TICKS_PER_QUARTER, is_strong, pitch_name  # noqa: E402

OUT = REPO / "bench" / "results" / "melody-quality.json"
MODEL_SONGS = REPO / "bench" / "results" / "model-quality.json"
# English songs of music21's corpus with their words under the notes
LYRIC_SONGS = ("leadSheet/fosterBrownHair.mxl", "leadSheet/berlinAlexandersRagtime.mxl",
               "johnson_j_r/lift_every_voice.mxl", "beach/prayer_of_a_tired_child.musicxml")


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def int_at_least(low: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        return value
    return parse


# --- measures shared by composed and real melodies -------------------------------------------

def measures(pitches: list[int], phrase_ends: list[bool], tonic: int, mode: str) -> dict:
    intervals = [abs(b - a) for a, b in zip(pitches, pitches[1:])]
    ends = [p for p, end in zip(pitches, phrase_ends) if end]
    return {
        "steps": sum(i <= 2 for i in intervals) / len(intervals) if intervals else 1.0,
        "range": max(pitches) - min(pitches),
        "in_key": sum((p - tonic) % 12 in IN_KEY[mode] for p in pitches) / len(pitches),
        "phrase_end_chord_tone": sum((p - tonic) % 12 in CHORD_TONES[mode] for p in ends) / len(ends) if ends else 1.0,
        "last_note_tonic": (pitches[-1] - tonic) % 12 == 0,
    }


def spread(values: list[float]) -> dict:
    ordered = sorted(values)
    n = len(ordered)

    def quantile(q: float) -> float:
        return ordered[min(n - 1, max(0, round(q * (n - 1))))]
    return {"mean": statistics.fmean(ordered), "p10": quantile(0.1), "median": quantile(0.5), "p90": quantile(0.9)}


def summarise(rows: list[dict]) -> dict:
    return {key: spread([float(r[key]) for r in rows]) for key in rows[0]}


def within(key: str, composed: dict, real: dict, n_real: int) -> bool:
    if key == "last_note_tonic":
        share, real_share = composed["mean"], real["mean"]
        se = (real_share * (1 - real_share) / n_real) ** 0.5
        return share >= real_share - 2 * se
    return real["p10"] <= composed["mean"] <= real["p90"]


# --- composed melodies ------------------------------------------------------------------------

def composed(songs: list[dict]) -> tuple[list[dict], dict, list[dict]]:
    syllables.parse("the dictionary loads once per process")  # not part of a song's time
    rows, times, sizes, described = [], [], {"abc": [], "midi": [], "json": []}, []
    coverage = {"syllables": 0, "syllables_with_a_note": 0, "notes": 0, "notes_with_a_syllable": 0,
                "stressed": 0, "stressed_on_strong_beats": 0}
    for song in songs:
        started = time.perf_counter()
        melody = compose(song["title"], song["lyrics"])
        times.append(time.perf_counter() - started)
        if not melody.notes:
            continue
        sizes["abc"].append(len(to_abc(melody).encode()))
        sizes["midi"].append(len(to_midi(melody)))
        sizes["json"].append(len(json.dumps(to_document(melody), ensure_ascii=False).encode()))
        sung = {(n.word, n.syllable) for n in melody.notes}
        every = [(s.word, s.index) for w in melody.lyrics.words for s in w.syllables]
        coverage["syllables"] += len(every)
        coverage["syllables_with_a_note"] += sum(s in sung for s in every)
        coverage["notes"] += len(melody.notes)
        coverage["notes_with_a_syllable"] += sum((n.word, n.syllable) in set(every) for n in melody.notes)
        bar = melody.bar_ticks
        for note in melody.notes:
            if note.stressed:
                coverage["stressed"] += 1
                coverage["stressed_on_strong_beats"] += is_strong(melody.metre, (note.onset - melody.pickup) % bar)
        pitches = [n.pitch for n in melody.notes]
        rows.append(measures(pitches, [n.phrase_end for n in melody.notes], melody.tonic, melody.mode))
        described.append({"title": song["title"], "key": melody.key, "metre": melody.metre,
                          "tempo_bpm": melody.tempo_bpm, "notes": len(melody.notes),
                          "lowest": pitch_name(min(pitches)), "highest": pitch_name(max(pitches)),
                          "range_semitones": max(pitches) - min(pitches),
                          "first_line": melody.lyrics.lines[0].text})
    other = {
        "syllables_with_a_note": coverage["syllables_with_a_note"] / coverage["syllables"],
        "notes_with_a_syllable": coverage["notes_with_a_syllable"] / coverage["notes"],
        "stressed_on_strong_beats": coverage["stressed_on_strong_beats"] / coverage["stressed"],
        "syllables": coverage["syllables"],
        "compose_ms": spread([t * 1000 for t in times]) | {"max": max(times) * 1000},
        "bytes": {k: spread(v) | {"max": max(v)} for k, v in sizes.items()},
    }
    return rows, other, described


# --- real melodies ----------------------------------------------------------------------------

def real_rows(limit: int) -> list[dict]:
    rows = []
    for tune in melody_corpus.held_out(limit):
        pitches = [n.pitch for n in tune.notes]
        rows.append(measures(pitches, [n.phrase_end for n in tune.notes], tune.tonic, tune.mode))
    return rows


def _strong(numerator: int, bar_ql: float, offset_ql: float) -> bool:
    metre = f"{numerator}/{round(4 * numerator / bar_ql)}"
    ticks = round(offset_ql * TICKS_PER_QUARTER)
    try:
        return is_strong(metre, ticks % round(bar_ql * TICKS_PER_QUARTER))
    except KeyError:
        half = bar_ql / 2 if numerator in (4, 6, 12) else None
        return abs(offset_ql) < 1e-9 or (half is not None and abs(offset_ql - half) < 1e-9)


def real_song_stress(paths: tuple[str, ...] = LYRIC_SONGS) -> dict:
    """Stressed syllables on strong beats in the corpus's English songs: words rebuilt from
    each note's first-verse syllable; a word counts where our syllables of it are as many
    as its notes."""
    import warnings

    from music21 import corpus
    per_song = {}
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = corpus.parse(path)
        part = max(score.parts, key=lambda p: sum(1 for n in p.recurse().notes if n.lyrics))
        words, current = [], []
        for note in part.recurse().notes:
            if not note.lyrics or note.isChord:
                continue
            lyric = note.lyrics[0]
            measure = note.getContextByClass("Measure")
            ts = note.getContextByClass("TimeSignature")
            offset = note.offset + (measure.paddingLeft if measure is not None else 0)
            strong = _strong(ts.numerator, ts.barDuration.quarterLength, offset) if ts else offset == 0
            current.append((lyric.text or "", strong))
            if lyric.syllabic in (None, "single", "end"):
                words.append(current)
                current = []
        stressed = on_strong = 0
        for word in words:
            text = "".join(syllables.WORD.findall("".join(t for t, _ in word)))
            if not text:
                continue
            found = syllables.word_syllables(text)
            if len(found) != len(word):
                continue
            for (_, is_stressed), (_, strong) in zip(found, word):
                if is_stressed:
                    stressed += 1
                    on_strong += strong
        per_song[path] = {"stressed": stressed, "on_strong_beats": on_strong,
                          "share": on_strong / stressed if stressed else None}
    total = sum(s["stressed"] for s in per_song.values())
    return {"songs": per_song, "share": sum(s["on_strong_beats"] for s in per_song.values()) / total}


# --- the report -------------------------------------------------------------------------------

LABELS = {"steps": ("intervals that are steps (<= 2 semitones)", "{:.1%}"),
          "range": ("range, semitones", "{:.1f}"),
          "in_key": ("notes in the key", "{:.1%}"),
          "phrase_end_chord_tone": ("phrases ending on a chord tone (I, V)", "{:.1%}"),
          "last_note_tonic": ("last note the tonic", "{:.0%}")}


def fmt(key: str, s: dict) -> str:
    f = LABELS[key][1]
    if key == "last_note_tonic":
        return f.format(s["mean"])
    return f"{f.format(s['mean'])} ({f.format(s['p10'])}-{f.format(s['p90'])})"


def table(result: dict) -> str:
    sets = list(result["composed"])
    head = ["measure (mean, 10th-90th pct)", *[f"composed: {s}" for s in sets], "real melodies"]
    rows = [head, ["---"] * len(head)]
    for key, (label, _) in LABELS.items():
        cells = [label]
        for s in sets:
            summary = result["composed"][s]["summary"][key]
            mark = "" if result["composed"][s]["within"][key] else " (outside)"
            cells.append(fmt(key, summary) + mark)
        cells.append(fmt(key, result["real"]["summary"][key]))
        rows.append(cells)
    for label, key, form in (("syllables with a note / notes with a syllable", None, None),
                             ("stressed syllables on strong beats", "stressed_on_strong_beats", "{:.1%}")):
        cells = [label]
        for s in sets:
            o = result["composed"][s]["other"]
            cells.append(f"{o['syllables_with_a_note']:.1%} / {o['notes_with_a_syllable']:.1%}" if key is None
                         else form.format(o[key]))
        cells.append("—" if key is None else f"{result['real_songs_with_lyrics']['share']:.1%} (English songs)")
        rows.append(cells)
    for label, part in (("compose, ms (median, p90, max)", "compose_ms"), ("ABC bytes (median, max)", "abc"),
                        ("MIDI bytes (median, max)", "midi"), ("JSON bytes (median, max)", "json")):
        cells = [label]
        for s in sets:
            o = result["composed"][s]["other"]
            v = o[part] if part == "compose_ms" else o["bytes"][part]
            cells.append(f"{v['median']:.1f}, {v['p90']:.1f}, {v['max']:.1f}" if part == "compose_ms"
                         else f"{v['median']:,.0f}, {v['max']:,.0f}")
        cells.append("—")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows)


def main(argv: list[str] | None = None) -> dict:
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "songs.csv"),
                   help="the lyrics corpus (songs.csv), read, never copied")
    p.add_argument("--songs", type=int_at_least(1), default=100, help="songs and real melodies (default 100)")
    p.add_argument("--out", default=str(OUT), help="where the JSON goes")
    p.add_argument("--smoke", action="store_true", help="5 songs and 5 melodies; results thrown away")
    a = p.parse_args(argv)
    scratch = None
    if a.smoke:
        scratch = tempfile.TemporaryDirectory()
        a.songs, a.out, a.corpus = 5, str(Path(scratch.name) / "melody-quality.json"), ""
    sets = {}
    corpus = Path(a.corpus)
    if a.corpus and corpus.exists():
        sets["real lyrics"] = held_out_songs(corpus, a.songs)
    if MODEL_SONGS.exists():
        runs = json.loads(MODEL_SONGS.read_text())["results"]
        served = next((r for name, r in runs.items() if "rhymes on" in name), None)
        if served:
            sets["bundled model's songs"] = [s for s in served["songs"] if s.get("lyrics")][:a.songs]
    if not sets:
        p.error(f"argument --corpus: {corpus} does not exist and there is no {MODEL_SONGS.name}")
    real = real_rows(a.songs)
    result = {"melody_release": release(), "songs": a.songs,
              "real": {"melodies": len(real), "summary": summarise(real)},
              "real_songs_with_lyrics": real_song_stress(LYRIC_SONGS[:1] if a.smoke else LYRIC_SONGS),
              "composed": {}}
    for name, songs in sets.items():
        rows, other, described = composed(songs)
        summary = summarise(rows)
        result["composed"][name] = {
            "melodies": len(rows), "summary": summary, "other": other, "described": described[:5],
            "within": {k: within(k, summary[k], result["real"]["summary"][k], len(real)) for k in LABELS}}
    Path(a.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(table(result))
    print()
    for name, entry in result["composed"].items():
        print(f"five melodies ({name}):")
        for d in entry["described"]:
            print(f"  {d['title'][:40]!r}: {d['key']}, {d['metre']}, {d['tempo_bpm']:g} bpm, {d['notes']} notes, "
                  f"{d['lowest']}-{d['highest']} ({d['range_semitones']} semitones); \"{d['first_line'][:50]}\"")
    if scratch is not None:
        scratch.cleanup()
    return result


if __name__ == "__main__":
    main()
