"""The melody model learned from real folk songs (model.json, written by
tools/train_melody.py from the Essen collection in music21's corpus), as the
probability tables the composer samples from.

Counts become probabilities with additive smoothing backed off to a coarser
context (Chen & Goodman, "An empirical study of smoothing techniques for language
modeling", 1998, on interpolated back-off): a pitch step given (degree, previous step,
accent) falls back on (degree, accent), then on the degree alone, then on a uniform
floor, so every degree in a melody's range stays reachable.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from web.melody.theory import METRES, NOTE_TICKS

BUCKETS = ("L-", "s-", "0", "s+", "L+")
BACKOFF = 2.0   # pseudo-counts given to the coarser context
FLOOR = 0.01    # pseudo-counts per outcome at the last level


def bucket(step: int) -> str:
    """The kind of step between two scale degrees, as tools/train_melody.py counts it."""
    if step <= -2:
        return "L-"
    if step >= 2:
        return "L+"
    return {-1: "s-", 0: "0", 1: "s+"}[step]


def _normalise(weights: dict) -> dict:
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()} if total else {}


def _smoothed(counts: dict, prior: dict, strength: float) -> dict:
    total = sum(counts.values())
    return {k: (counts.get(k, 0) + strength * p) / (total + strength) for k, p in prior.items()}


@dataclass(frozen=True, eq=False)  # hashed by identity: a cache key of the composer
class Rhythm:
    """One metre's rhythm tables, in sixteenth ticks."""
    bar: int
    strong: tuple[int, ...]
    ioi: dict[int, dict[int, float]]          # bar position -> {ticks to the next onset: p}
    final_position: dict[int, float]          # bar position of a phrase's last note -> p
    final_ticks: dict[int, dict[int, float]]  # that position -> {ticks held: p}
    pickup: dict[int, float]                  # ticks before the downbeat a phrase starts -> p
    notes_per_bar: float                      # the median number of notes in a bar of a phrase


class MelodyModel:
    """model.json's counts as probabilities. ``digest``: SHA-256 of the file, part of
    the melody release (web.melody.compose.MELODY_RELEASE)."""

    def __init__(self, data: dict, digest: str):
        self.digest = digest
        self._steps: dict[tuple, tuple[tuple[int, float], ...]] = {}
        self._chains: dict[tuple[int, int], Chain] = {}
        self.tunes = data["tunes"]
        self.metres = _normalise({m: c for m, c in data["metres"].items() if m in METRES})
        self.modes = _normalise(data["modes"])
        self.tonics = _normalise({int(k): v for k, v in data["tonics"].items()})
        self.rhythms = {m: self._rhythm(m, r) for m, r in data["rhythm"].items() if m in METRES}
        pitch = data["pitch"]
        self._transitions = {k: {int(d): c for d, c in v.items()} for k, v in pitch["transitions"].items()}
        self.first = {int(k): v for k, v in pitch["first"].items()}
        self.cadence_inner = {int(k): v for k, v in pitch["cadence_inner"].items()}
        self.ambitus = {tuple(int(x) for x in k.split(",")): v for k, v in pitch["ambitus"].items()}
        # the coarser contexts of the back-off: (degree, accent) and the degree alone
        self._by_accent: dict[tuple[int, str], dict[int, int]] = {}
        self._by_degree: dict[int, dict[int, int]] = {}
        for context, counts in self._transitions.items():
            degree, _, accent = context.split(",")
            for target in (self._by_accent.setdefault((int(degree), accent), {}),
                           self._by_degree.setdefault(int(degree), {})):
                for d, c in counts.items():
                    target[d] = target.get(d, 0) + c

    @staticmethod
    def _rhythm(metre: str, r: dict) -> Rhythm:
        bar, strong = METRES[metre]
        ioi = {}
        for position in range(bar):
            counts = {int(k): v for k, v in r["ioi"].get(str(position), {}).items()}
            ioi[position] = _smoothed(counts, {t: 1 / len(NOTE_TICKS) for t in NOTE_TICKS}, 0.5)
        final_position = _smoothed({int(k): v for k, v in r["final_position"].items()},
                                   {p: 1 / bar for p in range(bar)}, 1.0)
        final_ticks = {}
        for position in range(bar):
            counts = {int(k): v for k, v in r["final_ticks"].get(str(position), {}).items()}
            final_ticks[position] = _smoothed(counts, {t: 1 / len(NOTE_TICKS) for t in NOTE_TICKS}, 0.5)
        pickup = _normalise({int(k): v for k, v in r["pickup"].items() if int(k) < bar})
        per_bar = sorted(int(k) for k, v in r["notes_per_bar"].items() for _ in range(v))
        median = per_bar[len(per_bar) // 2] if per_bar else 4
        return Rhythm(bar, strong, ioi, final_position, final_ticks, pickup, max(1, median))

    def step(self, degree: int, previous: str, accent: str, low: int, high: int) -> tuple[tuple[int, float], ...]:
        """P(next degree | this degree, the step before it, the next note's accent),
        over the degrees low..high; (degree, p) pairs summing to 1. Each answer is kept:
        there are only as many as the model has degrees, steps, accents and ranges."""
        key = (degree, previous, accent, low, high)
        found = self._steps.get(key)
        if found is None:
            found = self._steps[key] = self._step(degree, previous, accent, low, high)
        return found

    def _step(self, degree: int, previous: str, accent: str, low: int, high: int) -> tuple[tuple[int, float], ...]:
        window = range(low, high + 1)
        uniform = {d: 1 / len(window) for d in window}

        def inside(counts: dict) -> dict:
            return {d: c for d, c in counts.items() if low <= d <= high}

        level1 = _smoothed(inside(self._by_degree.get(degree, {})), uniform, FLOOR * len(window))
        level2 = _smoothed(inside(self._by_accent.get((degree, accent), {})), level1, BACKOFF)
        exact = self._transitions.get(f"{degree},{previous},{accent}", {})
        level3 = _smoothed(inside(exact), level2, BACKOFF)
        return tuple(sorted(_normalise(level3).items()))

    def chain(self, low: int, high: int) -> Chain:
        """The pitch chain's tables over degrees low..high (one per range, kept)."""
        found = self._chains.get((low, high))
        if found is None:
            found = self._chains[(low, high)] = Chain(self, low, high)
        return found


class Chain:
    """The learned pitch chain over the degrees ``low..high``, with states numbered
    (degree - low) * 5 + the kind of step that reached it (model.BUCKETS' order)."""

    def __init__(self, model: MelodyModel, low: int, high: int):
        self.low, self.high = low, high
        self._towards: dict[tuple, tuple[tuple[float, ...], ...]] = {}
        self.tables: dict[str, list[list[tuple[int, float]]]] = {}
        for accent in ("S", "w"):
            table = []
            for x in range(low, high + 1):
                for b in ("L-", "s-", "0", "s+", "L+"):
                    table.append([((x2 - low) * 5 + bucket_index(x2 - x), p)
                                  for x2, p in model.step(x, b, accent, low, high)])
            self.tables[accent] = table
        first = [(x, model.first.get(x, 0) + 0.5) for x in range(low, high + 1)]
        total = sum(w for _, w in first)
        self.first = [((x - low) * 5 + 2, w / total) for x, w in first]

    def degree(self, state: int) -> int:
        return self.low + state // 5

    def towards(self, cadence: int, accents: tuple[str, ...]) -> tuple[tuple[float, ...], ...]:
        """Backward messages for a phrase's last ``len(accents)`` notes ending on degree
        ``cadence``: entry i, state s: the (scaled) chance of reaching it from s at note i.
        Kept: a range has few cadences and accent patterns."""
        key = (cadence, accents)
        found = self._towards.get(key)
        if found is None:
            found = self._towards[key] = self._backward(cadence, accents)
        return found

    def _backward(self, cadence: int, accents: tuple[str, ...]) -> tuple[tuple[float, ...], ...]:
        size = len(self.tables["S"])
        target = cadence - self.low
        beta = [tuple(1.0 if s // 5 == target else 0.0 for s in range(size))]
        for accent in reversed(accents[1:]):
            after, table = beta[0], self.tables[accent]
            row = [sum(p * after[s2] for s2, p in table[s]) for s in range(size)]
            norm = sum(row) or 1.0
            beta.insert(0, tuple(w / norm for w in row))
        return tuple(beta)


def bucket_index(step: int) -> int:
    """The index in BUCKETS of the kind of step ``step`` degrees is."""
    return max(-2, min(2, step)) + 2


@lru_cache(maxsize=1)
def load() -> MelodyModel:
    """The bundled model (web/melody/model.json), read once per process."""
    raw = resources.files("web.melody").joinpath("model.json").read_bytes()
    return MelodyModel(json.loads(raw), hashlib.sha256(raw).hexdigest())
