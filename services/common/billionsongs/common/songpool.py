"""The random-song pool and the "Make Random" pick, in one place.

The pregeneration worker fills a pool of ready song ids; every web replica
picks from it. Both live in Redis, keyed by model release (docs/architecture.md, invariant 2), so a
new model never hands out ids whose cached text belongs to the old one.

Redis keys (``<release>`` is the model release id):

``pool:<release>``        SET of pooled ids (decimal strings): O(1) random member.
``pool:<release>:uses``   HASH id -> uses left; the id leaves the pool at 0.
``top:<release>``         ZSET of top-voted ids, scored by the running sum of
                          their weights max(score, 0): a uniform draw in
                          [0, total) lands on an id with probability weight/total.

Every read-modify-write runs in one Lua script, so any number of web replicas
and pregen workers can share the keys without locks. Everything here can be
rebuilt: flushing Redis only empties the pool (the worker refills it) and the
top list (the worker mirrors it again); picks fall back to a fresh random id
meanwhile.

The Redis client is passed in (``redis.Redis``, with or without
``decode_responses``); this module opens no connections of its own.
"""
from __future__ import annotations

import random
from collections.abc import Iterable

from billionsongs.common.ids import MAX_SONG_ID

DEFAULT_TARGET_SIZE = 50_000
DEFAULT_USES_PER_SONG = 10
# "3 in 4 from the pool, 1 in 4 from top-voted songs" (the original's 25 %).
POOL_SHARE = 0.75

SOURCE_POOL = "pool"
SOURCE_TOP = "top"
SOURCE_FRESH = "fresh"


def pool_key(release: str) -> str:
    return f"pool:{release}"


def pool_uses_key(release: str) -> str:
    return f"pool:{release}:uses"


def top_key(release: str) -> str:
    return f"top:{release}"


# KEYS: set, uses hash. ARGV: target, uses, ids...
# SCARD is read inside the script, so concurrent adders never see a stale size
# and the pool never grows past the target. Ids already pooled keep their
# remaining uses (re-adding must not refresh a nearly spent id).
_ADD = """
local room = tonumber(ARGV[1]) - redis.call('SCARD', KEYS[1])
local added = 0
for i = 3, #ARGV do
  if added >= room then break end
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[2])
    added = added + 1
  end
end
return added
"""

# KEYS: set, uses hash. Returns the id taken, or false when the pool is empty.
# An id with no uses entry (a half-deleted pool) counts as having one use left,
# so it is served once and then removed rather than kept forever.
_TAKE = """
local id = redis.call('SRANDMEMBER', KEYS[1])
if not id then return false end
local left = redis.call('HINCRBY', KEYS[2], id, -1)
if left <= 0 then
  redis.call('SREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return id
"""

# KEYS: top zset. ARGV: u in [0, 1). The running sums are integers, so
# r = floor(u * total) is uniform over 0..total-1 and the first id whose running
# sum exceeds r owns exactly `weight` of those values. Reading the total and
# picking in one script keeps a concurrent replace() from splitting them.
_PICK = """
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then return false end
local total = tonumber(last[2])
if total <= 0 then return false end
local r = math.floor(tonumber(ARGV[1]) * total)
if r >= total then r = total - 1 end
local hit = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', r), '+inf', 'LIMIT', 0, 1)
return hit[1] or false
"""


def _as_int(value) -> int:
    return int(value.decode() if isinstance(value, bytes) else value)


class SongPool:
    """Ready song ids of one model release, each served up to ``uses_per_song`` times."""

    def __init__(self, redis_client, release: str, target_size: int = DEFAULT_TARGET_SIZE,
                 uses_per_song: int = DEFAULT_USES_PER_SONG):
        if target_size < 0 or uses_per_song < 1:
            raise ValueError("target_size must be >= 0 and uses_per_song >= 1")
        self.redis = redis_client
        self.release = release
        self.target_size = target_size
        self.uses_per_song = uses_per_song
        self.keys = [pool_key(release), pool_uses_key(release)]
        # register_script uses EVALSHA and reloads the script after NOSCRIPT
        # (a restarted Redis), so nothing here needs re-initialising.
        self._add = redis_client.register_script(_ADD)
        self._take = redis_client.register_script(_TAKE)

    def add(self, ids: Iterable[int]) -> int:
        """Pool ``ids`` while there is room; returns how many were added
        (ids already pooled and ids past the target are not)."""
        args = [str(i) for i in ids]
        if not args:
            return 0
        return int(self._add(keys=self.keys, args=[self.target_size, self.uses_per_song, *args]))

    def take(self) -> int | None:
        """Spend one use of a random pooled id; None when the pool is empty."""
        result = self._take(keys=self.keys)
        return None if result is None else _as_int(result)

    def size(self) -> int:
        return int(self.redis.scard(self.keys[0]))

    def missing(self) -> int:
        """How many ids the pool lacks to reach its target (never negative)."""
        return max(0, self.target_size - self.size())

    def uses_left(self, song_id: int) -> int:
        """Uses left for ``song_id`` (0 when not pooled); for tests and operators."""
        value = self.redis.hget(self.keys[1], str(song_id))
        return 0 if value is None else _as_int(value)


class TopSongs:
    """A Redis mirror of the top-voted songs of one release, for weighted picks."""

    def __init__(self, redis_client, release: str):
        self.redis = redis_client
        self.release = release
        self.key = top_key(release)
        self._pick = redis_client.register_script(_PICK)

    def replace(self, songs: Iterable[tuple[int, int]]) -> int:
        """Make ``(song_id, score)`` pairs the whole top list; returns how many
        can be picked (songs with score <= 0 have no weight and are left out)."""
        cumulative = {}
        total = 0
        for song_id, score in songs:
            weight = max(int(score), 0)
            if weight == 0 or str(song_id) in cumulative:
                continue
            total += weight
            cumulative[str(song_id)] = total
        # DEL + ZADD in MULTI/EXEC: pickers see the old list or the new one,
        # never a half-written one.
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key)
        if cumulative:
            pipe.zadd(self.key, cumulative)
        pipe.execute()
        return len(cumulative)

    def pick(self, rng: random.Random | None = None) -> int | None:
        """A top-voted id drawn with probability proportional to max(score, 0);
        None when there is none. O(log n)."""
        u = (rng or random).random()
        result = self._pick(keys=[self.key], args=[repr(u)])
        return None if result is None else _as_int(result)

    def size(self) -> int:
        return int(self.redis.zcard(self.key))


def pick_random_song(redis_client, release: str, rng: random.Random | None = None,
                     pool: SongPool | None = None, top: TopSongs | None = None) -> tuple[int, str]:
    """The song behind "Make Random": ``(song_id, source)``.

    3 in 4 picks spend a use of a pooled id ("pool"), 1 in 4 draw a top-voted
    id weighted by score ("top"). When the chosen source is empty the other one
    is tried, and when both are, a fresh random uint64 id is returned ("fresh"),
    so a pick never fails while Redis answers. ``pool``/``top`` may be passed
    to reuse their registered scripts across calls.
    """
    rng = rng or random
    pool = pool or SongPool(redis_client, release)
    top = top or TopSongs(redis_client, release)
    sources = [(SOURCE_POOL, pool.take), (SOURCE_TOP, lambda: top.pick(rng))]
    if rng.random() >= POOL_SHARE:
        sources.reverse()
    for name, draw in sources:
        song_id = draw()
        if song_id is not None:
            return song_id, name
    return rng.randint(0, MAX_SONG_ID), SOURCE_FRESH
