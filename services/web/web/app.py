"""The application factory: ``create_app()`` reads settings and wires the blueprints.

Nothing runs at import. Under gunicorn (no preload) every worker calls create_app
after the fork; Redis connects and gRPC channels open on first use.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import redis as redis_lib
from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from billionsongs.common.logs import log_fields, new_request_id, request_id_var
from web import metrics
from web.clients import Clients
from web.jsonbody import StrictJSONProvider
from web.melody.compose import release as melody_release
from web.pagecache import PageCache
from web.settings import WebSettings
from web.songstore import ReleaseTracker, SongStore
from web.state import WebState, install, state

log = logging.getLogger("web.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; ")


class PublicAwareSessionInterface(SecureCookieSessionInterface):
    """Never touches a response marked ``Cache-Control: public``: no Set-Cookie, no
    ``Vary: Cookie``, even for a signed-in visitor whose permanent session would
    otherwise be refreshed on every request. What a CDN caches is the same for all."""

    def save_session(self, app, session, response):
        if response.cache_control.public:
            return
        super().save_session(app, session, response)


def _site_version(root: Path, melody_release: str = "") -> str:
    """A hash of the templates and static files (and the melody release, whose score
    the song page shows): busts browser caches of CSS/JS and is part of song ETags, so
    a redesign or a new composer never leaves old pages valid."""
    digest = hashlib.sha256(melody_release.encode())
    for path in sorted(p for d in ("templates", "static") for p in (root / d).rglob("*") if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. ``test_config`` may hold ``SETTINGS`` (a WebSettings), ``CLIENTS``
    and ``REDIS`` to replace what production builds from the environment, plus any
    Flask config keys."""
    app = Flask(__name__)
    test_config = dict(test_config or {})
    settings: WebSettings = test_config.pop("SETTINGS", None) or WebSettings.from_env()

    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="bs_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=30 * 24 * 3600,
        # Sign-up and votes are tiny; anything bigger is an attack or a mistake -> 413.
        MAX_CONTENT_LENGTH=16 * 1024,
        # Static URLs carry ?v=<site version>, so browsers may keep them for a year.
        SEND_FILE_MAX_AGE_DEFAULT=365 * 24 * 3600,
        # The token lives as long as the session; a page left open overnight still votes.
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    app.config.update(test_config)
    app.session_interface = PublicAwareSessionInterface()
    # Lone surrogates and deep nesting are malformed JSON here: a 400, not a 500 later.
    app.json = StrictJSONProvider(app)

    clients = app.config.get("CLIENTS") or Clients(settings.generator_target, settings.votes_target,
                                                   settings.generation_timeout_s)
    redis_client = app.config.get("REDIS") or redis_lib.Redis.from_url(
        settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30)
    release = ReleaseTracker(clients, redis_client)
    web_state = WebState(
        settings=settings, clients=clients, redis=redis_client, release=release,
        songs=SongStore(clients, redis_client, lock_ttl_s=settings.generation_timeout_s + 10,
                        wait_s=settings.generation_timeout_s + 10, on_other_release=release.expire),
        site_version=_site_version(Path(app.root_path), melody_release()))
    install(app, web_state)
    # Finished song pages straight from memory (web/pagecache.py), behind ProxyFix so
    # both key and render by the same root URL.
    web_state.page_cache = app.wsgi_app = PageCache(app.wsgi_app, release.current)
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops,
                                x_host=settings.proxy_hops)

    CSRFProtect(app)
    _install_request_hooks(app)

    from web import account, api, auth, errors, openapi, ops, pages, songs, tunes
    errors.register(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(songs.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(tunes.bp)

    @app.context_processor
    def template_globals():
        return {"site_version": state(app).site_version,
                "public_url": settings.public_url or request.host_url.rstrip("/")}

    return app


def conditional(response) -> None:
    """Every cacheable answer (public, 200, to GET/HEAD) carries an ETag and honours
    If-None-Match as RFC 9110 says, through werkzeug's own machinery: weak comparison
    (a CDN's W/"…" matches), lists of tags, "*". Routes may set their own ETag (song
    pages: release, id, site version); others get a hash of the body."""
    if (request.method not in ("GET", "HEAD") or response.status_code != 200
            or not response.cache_control.public or response.is_streamed):
        return
    if "ETag" not in response.headers:
        if response.direct_passthrough:
            return
        response.add_etag()
    response.make_conditional(request)


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else new_request_id()
        g.request_id_token = request_id_var.set(g.request_id)
        g.started = time.perf_counter()

    @app.after_request
    def finish_response(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        conditional(response)
        # Safe default: whatever did not say it is public is private and never stored.
        if not response.cache_control.public and not response.headers.get("Cache-Control"):
            response.headers["Cache-Control"] = "private, no-store"
        frame_ancestors = "'self'" if g.get("frameable") else "'none'"
        response.headers.setdefault("Content-Security-Policy", CSP + f"frame-ancestors {frame_ancestors}")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN" if g.get("frameable") else "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(endpoint).observe(elapsed)
        log.info("%s %s %s", request.method, request.path, response.status_code, extra=log_fields(
            method=request.method, path=request.path, status=response.status_code,
            ms=round(elapsed * 1000, 1), endpoint=endpoint))
        return response

    @app.teardown_request
    def end_request(_exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:  # a streamed response finishes in another context
                request_id_var.set("")
