"""Fixed-window counters in the key-value server (Valkey), shared by every web replica;
this process's own counters while Valkey cannot count (full, read-only, down)."""
from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import RedisError

from web import kvstore

log = logging.getLogger(__name__)


class LocalWindows:
    """The same fixed windows in this process's memory, for when Valkey refuses: each
    worker then allows ``limit`` per window on its own (at most workers x limit in all),
    which still stops a brute force, where failing (503) would stop every sign-in.
    Entries live until their window ends; at most ``max_keys`` (the oldest go first)."""

    def __init__(self, max_keys: int = 100_000):
        self.max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window end, count)
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: int) -> int:
        now = time.monotonic()
        with self._lock:
            end, count = self._windows.get(key, (0.0, 0))
            if end <= now:
                end, count = now + window_s, 0
            count += 1
            self._windows[key] = (end, count)
            if len(self._windows) > self.max_keys:
                for old in [k for k, (e, _) in self._windows.items() if e <= now] or list(self._windows)[:1]:
                    self._windows.pop(old, None)
        return max(1, int(end - now + 0.999)) if count > limit else 0


_local = LocalWindows()


def over_limit(redis, key: str, limit: int, window_s: int = 60) -> int:
    """Count one hit on ``key``; 0 when allowed, else seconds until the window ends.

    One round trip, atomic (MULTI/EXEC): INCR, then ``EXPIRE key window NX``,
    which sets the window's end only when the key has none yet (the first hit),
    so a crash between the two commands cannot leave a counter without expiry
    and later hits never push the window's end back. EXPIRE's NX flag needs
    Redis 7+ / Valkey; the servers are Valkey 9 everywhere (devstack, compose,
    Kubernetes). When Valkey refuses or cannot be reached, this process counts
    (LocalWindows) and ``web_redis_errors_total{operation="ratelimit"}`` says so."""
    try:
        pipe = redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window_s, nx=True)
        pipe.ttl(key)
        count, _, ttl = pipe.execute()
    except RedisError as error:
        kvstore.worked_around("ratelimit", error)
        log.warning("rate limit counted in this process: the key-value server refused: %s", error)
        return _local.hit(key, limit, window_s)
    if int(count) > limit:
        return max(int(ttl), 1)
    return 0
