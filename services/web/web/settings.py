"""The web service's settings, read from the environment when the app is built."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billionsongs.common.settings import env_bool, env_choice, env_float, env_int, env_log_level, env_redis_url, env_str


@dataclass(frozen=True)
class WebSettings:
    # Where gunicorn listens (read by gunicorn_conf, kept here so every name is in one place).
    bind: str
    # gunicorn worker processes; each runs `threads` request threads (gthread).
    workers: int
    threads: int
    # gRPC targets; "dns:///generator:50051" spreads calls over every pod of a headless Service.
    generator_target: str
    votes_target: str
    redis_url: str
    # Signs session cookies; required, so a forgotten setting never ships a guessable key.
    secret_key: str
    # True behind HTTPS (the CDN terminates TLS): cookies then never travel in clear.
    session_cookie_secure: bool
    # How long the CDN may keep a song page. Songs never change for a model release and
    # the release is in the ETag, so this can be long.
    song_s_maxage: int
    # How long browsers keep a song page (shorter: a new model release shows up sooner).
    song_max_age: int
    # The site's public origin, e.g. https://billionsongs.example; used for canonical and
    # OpenGraph links. Empty: taken from the request.
    public_url: str
    # Proxies in front of us that set X-Forwarded-For (CDN + ingress); 0 trusts none.
    proxy_hops: int
    # Sign-in attempts allowed per client address and per user name, per minute.
    login_attempts_per_minute: int
    # Account registrations tried per client address, per minute: each costs an argon2
    # hash (64 MiB, ~50 ms of a core) in the votes service.
    registrations_per_minute: int
    # How long a visitor waits on a song being generated before the page streams it.
    stream_after_s: float
    # Upper bound for one song's generation (the gRPC deadline of StreamSong/GetSong).
    generation_timeout_s: float
    # Prometheus /metrics of every worker, served by the gunicorn master (0: off); never routed publicly.
    metrics_port: int
    log_level: str
    log_format: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        return cls(
            bind=env_str("WEB_BIND", "0.0.0.0:8000", env),
            workers=env_int("WEB_WORKERS", 2, env, minimum=1),
            threads=env_int("WEB_THREADS", 8, env, minimum=1),
            generator_target=env_str("GENERATOR_TARGET", "127.0.0.1:50051", env),
            votes_target=env_str("VOTES_TARGET", "127.0.0.1:50052", env),
            redis_url=env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0", env),
            secret_key=env_str("SECRET_KEY", env=env),
            session_cookie_secure=env_bool("SESSION_COOKIE_SECURE", False, env),
            song_s_maxage=env_int("SONG_S_MAXAGE", 30 * 24 * 3600, env, minimum=0),
            song_max_age=env_int("SONG_MAX_AGE", 3600, env, minimum=0),
            public_url=env_str("PUBLIC_URL", "", env).rstrip("/"),
            proxy_hops=env_int("WEB_PROXY_HOPS", 0, env, minimum=0),
            login_attempts_per_minute=env_int("LOGIN_ATTEMPTS_PER_MINUTE", 10, env, minimum=1),
            registrations_per_minute=env_int("REGISTRATIONS_PER_MINUTE", 5, env, minimum=1),
            stream_after_s=env_float("STREAM_AFTER_S", 1.0, env, minimum=0.0),
            generation_timeout_s=env_float("GENERATION_TIMEOUT_S", 120.0, env, minimum=1.0),
            metrics_port=env_int("METRICS_PORT", 0, env, minimum=0, maximum=65535),
            log_level=env_log_level("LOG_LEVEL", "INFO", env),
            log_format=env_choice("LOG_FORMAT", ("json", "text"), "json", env),
        )
