"""Probes for the orchestrator.

Prometheus' /metrics is not here: the gunicorn master serves it on METRICS_PORT,
a port the Ingress and the CDN never route (web/gunicorn_conf.py).
"""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from web.pagecache import private
from web.state import state

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
    ready = all(checks.values())
    response = jsonify(ready=ready, checks=checks)
    response.status_code = 200 if ready else 503
    return private(response)
