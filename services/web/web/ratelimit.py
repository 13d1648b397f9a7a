"""Fixed-window counters in the key-value server (Valkey), shared by every web replica."""
from __future__ import annotations


def over_limit(redis, key: str, limit: int, window_s: int = 60) -> int:
    """Count one hit on ``key``; 0 when allowed, else seconds until the window ends.

    One round trip, atomic (MULTI/EXEC): INCR, then ``EXPIRE key window NX``,
    which sets the window's end only when the key has none yet (the first hit),
    so a crash between the two commands cannot leave a counter without expiry
    and later hits never push the window's end back. EXPIRE's NX flag needs
    Redis 7+ / Valkey; the servers are Valkey 9 everywhere (devstack, compose,
    Kubernetes)."""
    pipe = redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_s, nx=True)
    pipe.ttl(key)
    count, _, ttl = pipe.execute()
    if int(count) > limit:
        return max(int(ttl), 1)
    return 0
