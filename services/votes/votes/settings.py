"""Settings of the votes service, read from the environment at start-up only."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from billionsongs.common.settings import SettingsError, env_choice, env_int, env_log_level, env_str


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
    metrics_port: int
    log_level: str
    log_format: str

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
        return cls(
            listen=env_str("VOTES_LISTEN", "0.0.0.0:50052", env),
            database_url=database_url,
            pool_size=env_int("VOTES_POOL_SIZE", 10, env, minimum=1, maximum=500),
            max_workers=env_int("VOTES_MAX_WORKERS", 32, env, minimum=1, maximum=1000),
            argon2=argon2,
            metrics_port=env_int("METRICS_PORT", 0, env, minimum=0, maximum=65535),
            log_level=env_log_level("LOG_LEVEL", "INFO", env),
            log_format=env_choice("LOG_FORMAT", ("json", "text"), "json", env),
        )
