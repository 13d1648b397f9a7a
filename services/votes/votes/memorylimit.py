"""How much memory this process may use: the container's cgroup limit, and the share of
it that password hashing may hold at once.

Each argon2 hash allocates its whole ``memory_cost`` (64 MiB by default) for the time it
runs, so the number of hashes running together, not the number of requests, decides
whether the votes pod stays inside its memory limit (an OOM kill stops sign-in and
voting for everyone). ``hash_slots`` turns a memory budget into that number.
"""
from __future__ import annotations

from pathlib import Path

# cgroup v2 (Kubernetes, Docker with systemd) and v1 (older hosts); the first file that
# holds a number wins. v1 says "no limit" with a huge number, v2 with "max".
CGROUP_LIMIT_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
_NO_LIMIT_ABOVE = 1 << 60  # v1's "unlimited" is 2^63 rounded down to a page

# Without a budget setting, hashing may hold this share of the container's limit; the
# rest is the process itself (~60-100 MiB: Python, gRPC, psycopg), the connection pool
# and headroom for the allocator.
LIMIT_SHARE = 0.5
# No container limit at all (a developer's machine): a fixed budget, 8 default hashes.
UNLIMITED_BUDGET_BYTES = 512 * 1024 * 1024


def container_memory_limit(files: tuple[str, ...] = CGROUP_LIMIT_FILES) -> int | None:
    """The cgroup memory limit of this process in bytes, or None when there is none
    (or no cgroup file can be read)."""
    for name in files:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        if text.isdigit():
            value = int(text)
            return None if value >= _NO_LIMIT_ABOVE else value
    return None


def hashing_budget_bytes(budget_mib: int, limit_bytes: int | None) -> int:
    """The bytes all running hashes may hold together: ``budget_mib`` when set (> 0),
    else ``LIMIT_SHARE`` of the container limit, else ``UNLIMITED_BUDGET_BYTES``."""
    if budget_mib > 0:
        return budget_mib * 1024 * 1024
    if limit_bytes is not None:
        return int(limit_bytes * LIMIT_SHARE)
    return UNLIMITED_BUDGET_BYTES


def hash_slots(budget_bytes: int, memory_cost_kib: int, most: int) -> int:
    """How many hashes of ``memory_cost_kib`` fit in ``budget_bytes`` together: at least 1
    (sign-in must work at all), at most ``most`` (the gRPC handler threads)."""
    return max(1, min(most, budget_bytes // (memory_cost_kib * 1024)))
