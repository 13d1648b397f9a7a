"""A deterministic random stream keyed by a song: SplitMix64 (Steele, Lea & Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014; the constants of
Vigna's reference implementation) seeded by SHA-256 of the key. Never Python's
``random`` module state or ``hash()``, which differ between processes."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

_MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, *key: str):
        digest = hashlib.sha256("\0".join(key).encode("utf-8", "surrogatepass")).digest()
        self.state = int.from_bytes(digest[:8], "big")

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """A float in [0, 1) with 53 random bits."""
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def uniform_int(self, low: int, high: int) -> int:
        """An integer in low..high (both included)."""
        return low + int(self.random() * (high - low + 1))

    def weighted(self, items: Iterable[tuple[object, float]]):
        """One item of ``(item, weight)`` pairs, with probability proportional to its
        weight. ValueError when no weight is positive."""
        pairs = [(item, weight) for item, weight in items if weight > 0]
        if not pairs:
            raise ValueError("nothing to choose from")
        total = sum(weight for _, weight in pairs)
        target = self.random() * total
        for item, weight in pairs:
            target -= weight
            if target < 0:
                return item
        return pairs[-1][0]
