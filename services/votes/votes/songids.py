"""uint64 song ids <-> PostgreSQL bigint keys.

bigint is signed, so an id is stored as ``id - 2**63``. Unlike the two's
complement reinterpretation, this mapping is monotonic: ordering by the key
orders by the id, which the Top N tie-break (song id ascending) relies on.
numeric(20) would also fit but costs variable-width keys and slower indexes.
"""
from __future__ import annotations

from billionsongs.common.ids import MAX_SONG_ID

_OFFSET = 2**63


def to_key(song_id: int) -> int:
    if not 0 <= song_id <= MAX_SONG_ID:
        raise ValueError(f"song id {song_id} is not a uint64")
    return song_id - _OFFSET


def from_key(key: int) -> int:
    return key + _OFFSET
