"""Settings of the votes service, read from the environment at start-up only."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from billionsongs.common.settings import SettingsError, env_choice, env_int, env_log_level, env_str
from votes.memorylimit import hash_slots, hashing_budget_bytes


@dataclass(frozen=True)
class Argon2Settings:
    # Defaults are argon2-cffi's (RFC 9106 "low memory" profile): about 50 ms
    # and 64 MiB per hash on a server core. Tests lower them; production must not.
    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


@dataclass(frozen=True)
class Settings:
    listen: str
    database_url: str
    # Connections to PostgreSQL; each RPC holds one only for its transaction
    # (never while hashing a password), so a few serve many gRPC workers.
    pool_size: int
    # gRPC worker threads; argon2 releases the GIL, so hashing runs in parallel.
    max_workers: int
    argon2: Argon2Settings
    # Memory all running password hashes may hold together, in MiB; 0: half of the
    # container's memory limit (votes/memorylimit.py). It sets how many hash at once.
    hash_memory_budget_mib: int
    metrics_port: int
    log_level: str
    log_format: str

    def hash_slots(self, limit_bytes: int | None) -> int:
        """How many password hashes may run at once under a container memory limit of
        ``limit_bytes`` (None: no limit)."""
        budget = hashing_budget_bytes(self.hash_memory_budget_mib, limit_bytes)
        return hash_slots(budget, self.argon2.memory_cost_kib, self.max_workers)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        database_url = env_str("DATABASE_URL", env=env)
        scheme = urlsplit(database_url).scheme
        if scheme not in ("postgresql", "postgres"):
            raise SettingsError(
                f"environment variable DATABASE_URL must be a postgresql:// URL, not {scheme or 'empty'}://")
        argon2 = Argon2Settings(
            time_cost=env_int("ARGON2_TIME_COST", 3, env, minimum=1, maximum=100),
            memory_cost_kib=env_int("ARGON2_MEMORY_COST", 65536, env, minimum=8, maximum=4 * 1024 * 1024),
            parallelism=env_int("ARGON2_PARALLELISM", 4, env, minimum=1, maximum=64),
        )
        if argon2.memory_cost_kib < 8 * argon2.parallelism:
            raise SettingsError("environment variable ARGON2_MEMORY_COST must be at least "
                                "8 KiB per lane (8 x ARGON2_PARALLELISM)")
        budget_mib = env_int("ARGON2_MEMORY_BUDGET_MIB", 0, env, minimum=0, maximum=1024 * 1024)
        if budget_mib and budget_mib * 1024 < argon2.memory_cost_kib:
            raise SettingsError(f"environment variable ARGON2_MEMORY_BUDGET_MIB={budget_mib} is less than one "
                                f"hash (ARGON2_MEMORY_COST={argon2.memory_cost_kib} KiB)")
        return cls(
            listen=env_str("VOTES_LISTEN", "0.0.0.0:50052", env),
            database_url=database_url,
            pool_size=env_int("VOTES_POOL_SIZE", 10, env, minimum=1, maximum=500),
            max_workers=env_int("VOTES_MAX_WORKERS", 32, env, minimum=1, maximum=1000),
            argon2=argon2,
            hash_memory_budget_mib=budget_mib,
            metrics_port=env_int("METRICS_PORT", 0, env, minimum=0, maximum=65535),
            log_level=env_log_level("LOG_LEVEL", "INFO", env),
            log_format=env_choice("LOG_FORMAT", ("json", "text"), "json", env),
        )
