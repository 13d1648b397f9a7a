"""Fixed-window counters in Redis, shared by every web replica."""
from __future__ import annotations


def over_limit(redis, key: str, limit: int, window_s: int = 60) -> int:
    """Count one hit on ``key``; 0 when allowed, else seconds until the window ends."""
    pipe = redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_s, nx=True)
    pipe.ttl(key)
    count, _, ttl = pipe.execute()
    if count > limit:
        return max(int(ttl), 1)
    return 0
