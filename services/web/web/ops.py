"""Probes for the orchestrator.

Prometheus' /metrics is not here: the gunicorn master serves it on METRICS_PORT,
a port the Ingress and the CDN never route (web/gunicorn_conf.py).
"""
from __future__ import annotations

import logging
import os

from flask import Blueprint, abort, jsonify, request
from redis.exceptions import RedisError

from web import kvstore, metrics
from web.kvstore import WRITE_REFUSED
from web.pagecache import private
from web.state import state

log = logging.getLogger(__name__)
PROBE_KEY = "web:readyz:probe"

# Headers every reverse proxy in front of web adds (ingress-nginx, the CDN
# stand-in, commercial CDNs): a request carrying one came from the public side.
_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    # Alive: the process answers. Dependencies are /readyz's business, so a generator
    # outage never gets healthy web pods restarted.
    response = private(jsonify(status="ok"))
    # The CDN keys cached pages by this header (deploy/nginx/cdn.conf.template), so a new
    # model release misses its cache. The release is refreshed at most every 30 s
    # (one 2 s-deadline call); when the generator is down the last known one is sent.
    tracker = state().release
    try:
        release = tracker.current()
    except Exception:
        release = tracker.known()
    if release:
        response.headers["X-Model-Release"] = release
    return response


@bp.get("/readyz")
def readyz():
    # For probes only (the kubelet, compose, the supervisor), which call the pod
    # directly. The edge refuses it too (deploy/nginx, deploy/k8s/base/ingress.yaml);
    # this is the origin's own guard: what its dependencies are doing is not the
    # public's business, and each call costs three round trips.
    if any(name in request.headers for name in _PROXY_HEADERS):
        abort(404)
    clients = state().clients
    checks = {"generator": clients.serving("generator"), "votes": clients.serving("votes")}
    try:
        checks["redis"] = bool(state().redis.ping())
    except Exception:
        checks["redis"] = False
    degraded = {}
    if checks["redis"]:
        degraded.update(redis_degraded(state().redis))
    ready = all(checks.values())
    # A key-value server that refuses writes leaves this pod able to serve (cached and
    # voted songs, new songs without the shared cache, sign-in with per-process limits),
    # and every pod shares it, so it is reported, not made a reason to take pods out.
    body = {"ready": ready, "checks": checks}
    if degraded:
        body["degraded"] = degraded
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    return private(response)


def redis_degraded(redis) -> dict[str, str]:
    """What is wrong with a key-value server that answers PING: it refuses a write (full
    at maxmemory, or read-only), or it is at maxmemory and evicting (allkeys-lru: cached
    songs, the pool and rate-limit counters go first). Empty when all is well. Sets the
    ``web_redis_writable`` gauge."""
    found = {}
    try:
        redis.set(PROBE_KEY, str(os.getpid()), px=10_000)
        metrics.REDIS_WRITABLE.set(1)
    except WRITE_REFUSED as error:
        metrics.REDIS_WRITABLE.set(0)
        reason = kvstore.worked_around("readyz_probe", error)
        found["redis_writes"] = (f"refused ({reason}): {error}; new songs are not cached or shared, "
                                 "sign-in limits are per process")
        log.warning("key-value server refuses writes: %s", error)
    except RedisError:
        return found
    try:
        memory = redis.info("memory")
    except RedisError:
        return found
    used, limit = int(memory.get("used_memory", 0)), int(memory.get("maxmemory", 0))
    if limit and used >= limit * 0.98:
        found["redis_memory"] = (f"at maxmemory ({used} of {limit} bytes, policy "
                                 f"{memory.get('maxmemory_policy', '?')}); keys are evicted or writes refused")
    return found
