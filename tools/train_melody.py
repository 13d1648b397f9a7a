"""Learn the composer's melody model from real folk songs and write it as JSON
(services/web/web/melody/model.json, committed; the web loads it, music21 stays a
development tool).

    .venv/bin/python tools/train_melody.py [--out PATH] [--limit N]

What it counts, over the Essen folk songs of music21's corpus less the 100 held out
for bench/melody_quality.py (tools/melody_corpus.py), per metre of theory.METRES:
- rhythm: how long a note lasts until the next one starts, by where in the bar it
  starts (sixteenth ticks); where phrases' last notes fall and how long they are held;
  how far before a downbeat phrases start (the pickup); how many bars a phrase spans
  and how many notes a bar holds;
- pitch: a Markov chain over scale degrees (0 = the tonic the tune ends near,
  7 = its octave), the next degree given the current one, the step that led to it
  (leap down, step down, repeat, step up, leap up) and whether the next note is on a
  strong beat; the degrees phrases end on (inner phrases, the last one); the lowest
  and highest degree of each tune; the tunes' metres, tonics and modes.
Only counts are written; the composer smooths them when it loads the model.
Takes about 4 minutes on one core.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools import melody_corpus  # noqa: E402
from web.melody.model import bucket  # noqa: E402
from web.melody.theory import METRES, NOTE_TICKS, TICKS_PER_QUARTER, pitch_degree  # noqa: E402

OUT = REPO / "services" / "web" / "web" / "melody" / "model.json"
DEGREE_RANGE = (-7, 14)  # tunes reaching beyond an octave below or two above are left out


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def _ticks(value) -> int | None:
    ticks = value * TICKS_PER_QUARTER
    return int(ticks) if ticks.denominator == 1 else None


def reference_tonic(tune: melody_corpus.Tune) -> int:
    """The MIDI tonic degrees are counted from: the tonic nearest the tune's last note."""
    last = tune.notes[-1].pitch
    below = last - (last - tune.tonic) % 12
    return below if last - below <= 6 else below + 12


def degrees(tune: melody_corpus.Tune) -> list[int]:
    ref = reference_tonic(tune)
    return [pitch_degree(n.pitch, ref, tune.mode) for n in tune.notes]


class Counts:
    def __init__(self):
        self.tunes = 0
        self.metres, self.tonics, self.modes = Counter(), Counter(), Counter()
        self.rhythm = {m: {"ioi": defaultdict(Counter), "final_position": Counter(),
                           "final_ticks": defaultdict(Counter), "pickup": Counter(), "bars": Counter(),
                           "notes_per_bar": Counter()} for m in METRES}
        self.transitions: dict[str, Counter] = defaultdict(Counter)
        self.first, self.cadence_inner, self.cadence_last = Counter(), Counter(), Counter()
        self.ambitus = Counter()

    def add(self, tune: melody_corpus.Tune) -> bool:
        degs = degrees(tune)
        if min(degs) < DEGREE_RANGE[0] or max(degs) > DEGREE_RANGE[1]:
            return False
        self.tunes += 1
        self.metres[tune.metre] += 1
        self.tonics[tune.tonic] += 1
        self.modes[tune.mode] += 1
        self._rhythm(tune)
        self._pitch(tune, degs)
        return True

    def _rhythm(self, tune: melody_corpus.Tune) -> None:
        bar, _ = METRES[tune.metre]
        r = self.rhythm[tune.metre]
        notes = tune.notes
        start = 0  # index of the current phrase's first note
        for i, note in enumerate(notes):
            onset, position = _ticks(note.onset), _ticks(note.bar_offset)
            if onset is None or position is None or not 0 <= position < bar:
                continue
            if i == start:
                r["pickup"][(bar - position) % bar] += 1
            if note.phrase_end:
                held = _ticks(note.duration)
                r["final_position"][position] += 1
                if held is not None:
                    r["final_ticks"][position][held] += 1
                first = _ticks(notes[start].onset)
                if first is not None:
                    downbeat = -(-first // bar)  # the bar the phrase's first downbeat opens
                    bars = onset // bar - downbeat + 1
                    if bars >= 1:
                        r["bars"][bars] += 1
                        body = sum(1 for n in notes[start:i + 1] if _ticks(n.onset) is not None
                                   and _ticks(n.onset) >= downbeat * bar)
                        r["notes_per_bar"][round(body / bars)] += 1
                start = i + 1
            elif i + 1 < len(notes):
                nxt = _ticks(notes[i + 1].onset)
                if nxt is not None and nxt - onset in NOTE_TICKS:
                    r["ioi"][position][nxt - onset] += 1

    def _pitch(self, tune: melody_corpus.Tune, degs: list[int]) -> None:
        bar, strong = METRES[tune.metre]
        self.first[degs[0]] += 1
        self.ambitus[f"{min(degs)},{max(degs)}"] += 1
        previous_step = 0
        for i in range(1, len(degs)):
            position = _ticks(tune.notes[i].bar_offset)
            accent = "S" if position is not None and position % bar in strong else "w"
            self.transitions[f"{degs[i - 1]},{bucket(previous_step)},{accent}"][degs[i]] += 1
            previous_step = degs[i] - degs[i - 1]
        for i, note in enumerate(tune.notes):
            if note.phrase_end:
                (self.cadence_last if i == len(tune.notes) - 1 else self.cadence_inner)[degs[i]] += 1

    def to_json(self, seconds: float) -> dict:
        def plain(counter: Counter) -> dict:
            return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (str(kv[0]), kv[1]))}

        return {
            "format": 1,
            "source": "Essen Folksong Collection (EsAC; ABC by Seymour Schlien) in music21's corpus, "
                      "essenFolksong/: " + ", ".join(melody_corpus.OPUS_FILES) +
                      f"; {melody_corpus.HELD_OUT} tunes held out (tools/melody_corpus.py)",
            "tunes": self.tunes,
            "metres": plain(self.metres), "tonics": plain(self.tonics), "modes": plain(self.modes),
            "rhythm": {m: {"ioi": {str(p): plain(c) for p, c in sorted(r["ioi"].items())},
                           "final_position": plain(r["final_position"]),
                           "final_ticks": {str(p): plain(c) for p, c in sorted(r["final_ticks"].items())},
                           "pickup": plain(r["pickup"]), "bars": plain(r["bars"]),
                           "notes_per_bar": plain(r["notes_per_bar"])}
                       for m, r in self.rhythm.items()},
            "pitch": {"transitions": {k: plain(c) for k, c in sorted(self.transitions.items())},
                      "first": plain(self.first), "cadence_inner": plain(self.cadence_inner),
                      "cadence_last": plain(self.cadence_last), "ambitus": plain(self.ambitus)},
            "training_seconds": round(seconds),
        }


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT, help="where the model goes (default: the web's)")
    parser.add_argument("--limit", type=int, default=None, help="learn from this many tunes only (a quick look)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"argument --limit: must be at least 1, not {args.limit}")
    started = time.monotonic()
    training, held = melody_corpus.split(args.limit)
    counts = Counts()
    used = sum(counts.add(t) for t in training)
    model = counts.to_json(time.monotonic() - started)
    # the training time is not part of the model: it would change the model's digest run to run
    seconds = model.pop("training_seconds")
    args.out.write_text(json.dumps(model, indent=None, sort_keys=False, separators=(",", ":")) + "\n")
    print(f"learned from {used} tunes ({len(training)} read, {len(held)} held out) in {seconds} s; "
          f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
