"""Settings of the pregeneration worker, from environment variables only."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billionsongs.common.settings import env_choice, env_float, env_int, env_log_level, env_redis_url, env_str
from billionsongs.common.songpool import DEFAULT_TARGET_SIZE, DEFAULT_USES_PER_SONG


@dataclass(frozen=True)
class Settings:
    # Where the generator and votes services answer ("host:port" or "dns:///name:port").
    generator_target: str = "127.0.0.1:50051"
    votes_target: str = "127.0.0.1:50052"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # 0 disables the Prometheus endpoint (tests).
    metrics_port: int = 0
    # The pool the website draws from; the original kept 50,000 songs.
    pool_target_size: int = DEFAULT_TARGET_SIZE
    # How many "Make Random" clicks one pregenerated song serves before it leaves.
    pool_uses: int = DEFAULT_USES_PER_SONG
    # Songs per GetSongs call; 0 = the generator's max_songs_per_request (GPU efficiency).
    batch: int = 0
    # How often top-voted songs are mirrored from the votes service.
    top_refresh_s: float = 60.0
    # How many top-voted songs take part in the 1-in-4 pick.
    top_limit: int = 1000
    # How often the model release is re-checked (a new model means a new pool).
    model_check_s: float = 30.0
    # How often a full pool is looked at again; the web spends uses meanwhile.
    idle_s: float = 1.0
    # Back-off while a dependency is down: doubles from min to max, with jitter.
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    # Deadlines: one whole GetSongs batch (slow on CPU), and every unary call.
    generate_timeout_s: float = 600.0
    rpc_timeout_s: float = 5.0
    # Fill level goes to the log this often.
    log_every_s: float = 30.0
    log_level: str = "INFO"
    log_format: str = "json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        d = cls()
        return cls(
            generator_target=env_str("GENERATOR_TARGET", d.generator_target, env),
            votes_target=env_str("VOTES_TARGET", d.votes_target, env),
            redis_url=env_redis_url("REDIS_URL", d.redis_url, env),
            metrics_port=env_int("METRICS_PORT", d.metrics_port, env, minimum=0, maximum=65535),
            pool_target_size=env_int("POOL_TARGET_SIZE", d.pool_target_size, env, minimum=1),
            pool_uses=env_int("POOL_USES", d.pool_uses, env, minimum=1),
            batch=env_int("PREGEN_BATCH", d.batch, env, minimum=0),
            top_refresh_s=env_float("TOP_REFRESH_S", d.top_refresh_s, env, minimum=0.01),
            top_limit=env_int("TOP_LIMIT", d.top_limit, env, minimum=1, maximum=1000),
            model_check_s=env_float("MODEL_CHECK_S", d.model_check_s, env, minimum=0.01),
            idle_s=env_float("PREGEN_IDLE_S", d.idle_s, env, minimum=0.01),
            backoff_min_s=env_float("BACKOFF_MIN_S", d.backoff_min_s, env, minimum=0.001),
            backoff_max_s=env_float("BACKOFF_MAX_S", d.backoff_max_s, env, minimum=0.001),
            generate_timeout_s=env_float("GENERATE_TIMEOUT_S", d.generate_timeout_s, env, minimum=0.1),
            rpc_timeout_s=env_float("RPC_TIMEOUT_S", d.rpc_timeout_s, env, minimum=0.1),
            log_every_s=env_float("LOG_EVERY_S", d.log_every_s, env, minimum=0.1),
            log_level=env_log_level("LOG_LEVEL", d.log_level, env),
            log_format=env_choice("LOG_FORMAT", ("json", "text"), d.log_format, env),
        )
