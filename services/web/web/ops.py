"""Probes and metrics for the orchestrator and Prometheus."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from web import metrics
from web.util import ext, private

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    # Alive: the process answers. Dependencies are /readyz's business, so a generator
    # outage never gets healthy web pods restarted.
    response = private(jsonify(status="ok"))
    # The CDN keys cached pages by this header (deploy/nginx/cdn.conf.template), so a new
    # model release misses its cache. The release is refreshed at most every 30 s
    # (one 2 s-deadline call); when the generator is down the last known one is sent.
    tracker = ext("release")
    try:
        release = tracker.current()
    except Exception:
        release = tracker.known()
    if release:
        response.headers["X-Model-Release"] = release
    return response


@bp.get("/readyz")
def readyz():
    clients = ext("clients")
    checks = {"generator": clients.serving("generator"), "votes": clients.serving("votes")}
    try:
        checks["redis"] = bool(ext("redis").ping())
    except Exception:
        checks["redis"] = False
    ready = all(checks.values())
    response = jsonify(ready=ready, checks=checks)
    response.status_code = 200 if ready else 503
    return private(response)


@bp.get("/metrics")
def metrics_view():
    body, content_type = metrics.render()
    return private(Response(body, content_type=content_type))
