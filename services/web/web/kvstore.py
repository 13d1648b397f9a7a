"""What the key-value server's (Valkey's) errors mean, for the code that works around them.

It holds only what can be rebuilt (song cache, generation locks and progress, the random
pool, rate-limit counters), so an error there should cost a feature, not a page.
"""
from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from web import metrics

# Up, but taking no writes: maxmemory reached (noeviction, or nothing left to evict),
# or a read-only replica after a failover.
WRITE_REFUSED = (OutOfMemoryError, ReadOnlyError)


def reason(error: Exception) -> str:
    """One word for a key-value server error: full, read_only, unavailable or error."""
    if isinstance(error, OutOfMemoryError):
        return "full"
    if isinstance(error, ReadOnlyError):
        return "read_only"
    if isinstance(error, RedisConnectionError | RedisTimeoutError):
        return "unavailable"
    return "error"


def worked_around(operation: str, error: Exception) -> str:
    """Count an error that ``operation`` worked around (web_redis_errors_total); its reason."""
    why = reason(error)
    metrics.REDIS_ERRORS.labels(operation, why).inc()
    return why
