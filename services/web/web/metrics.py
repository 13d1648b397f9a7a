"""Prometheus metrics of the website.

Under gunicorn every worker is its own process, so gunicorn_conf sets
PROMETHEUS_MULTIPROC_DIR before the workers start and the gunicorn master serves
every worker's numbers merged (prometheus-client multiprocess mode) on its own
port, METRICS_PORT (gunicorn_conf.when_ready), never on the public port. Without
that variable (tests) ``render`` shows this process only.

Names follow Prometheus' conventions: base units in the name
(``_duration_seconds``), ``_total`` on counters, no gauge restating a counter's rate.

The metric objects are module-level as prometheus-client expects; defining them
registers names only, it opens nothing.
"""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

HTTP_REQUESTS = Counter("web_http_requests_total", "HTTP responses, by endpoint, method and status",
                        ["endpoint", "method", "status"])
HTTP_LATENCY = Histogram("web_http_request_duration_seconds",
                         "Time to the first byte of a response, by endpoint",
                         ["endpoint"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
SONG_SOURCE = Counter("web_song_source_total",
                      "Where song pages' text came from: cache, stored (durable voted copy), generated, followed",
                      ["source"])
RANDOM_SOURCE = Counter("web_random_source_total", "Where Make Random's pick came from", ["source"])
LOGIN_LIMITED = Counter("web_login_rate_limited_total", "Sign-in attempts refused by the rate limit")
REDIS_ERRORS = Counter("web_redis_errors_total",
                       "Key-value server calls that failed and were worked around, by operation and reason "
                       "(full: maxmemory reached; read_only; unavailable; error)", ["operation", "reason"])
# 1 when the last /readyz probe could write to the key-value server, 0 when it refused
# (full or read-only); the lowest of the live workers.
REDIS_WRITABLE = Gauge("web_redis_writable", "Whether the key-value server takes writes (readiness probe)",
                       multiprocess_mode="livemin")
REGISTER_LIMITED = Counter("web_register_rate_limited_total", "Registrations refused by the rate limit")


def registry() -> CollectorRegistry:
    """Every worker's numbers under gunicorn (multiprocess mode), else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return merged
    return REGISTRY


def render() -> tuple[bytes, str]:
    return generate_latest(registry()), CONTENT_TYPE_LATEST

