"""Finished song pages kept in each worker's memory, served without Flask.

A song page is a pure function of (model release, song id) and of what the
templates take from the request: the site's root URL (canonical and OpenGraph
links when PUBLIC_URL is unset, and the script root in every link). So once
Flask has answered a plain ``GET /song/<id>`` with the finished, public page,
this WSGI middleware keeps the exact status, headers and body it sent and
answers the next such request itself: no request context, no session, no
key-value look-up, no template. Only the request id differs per answer
(``X-Request-ID``: the visitor's valid one, else a new one), and the answer is
counted and logged as Flask's hook would (web.app.finish_response).

Anything else goes to Flask untouched: other methods (HEAD included), a query
string, conditional or range headers (revalidation is Flask's, and cheap), a
non-canonical id, a release that cannot be known. Flask marks the responses it
is willing to have kept (``mark``) with the release and id it rendered, so a
page is never filed under a release that did not write it. Entries are few
kilobytes; the least recently used go when ``max_entries`` is reached.

Also here: ``public``/``private``, the Cache-Control every view's answer carries.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from billionsongs.common.logs import log_fields, new_request_id, request_id_var
from web import metrics
from web.state import state

log = logging.getLogger("web.access")  # the same lines as web.app's hook


def public(response, max_age: int, s_maxage: int):
    """Cacheable by browsers (``max_age`` s) and the CDN (``s_maxage`` s); the session
    interface then never sets a cookie (docs/architecture.md, invariant 4)."""
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    response.cache_control.s_maxage = s_maxage
    return response


TOP_MAX_AGE = 300  # Top 10 (page and API) may be five minutes old, at the CDN and in browsers


def song_etag(release: str, song_id: int) -> str:
    """The strong ETag of a song page or API answer: (model release, id, site version),
    so a new model or a redesign never leaves an old answer valid."""
    text = f"{release}\0{song_id}\0{state().site_version}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def private(response):
    """Per-visitor: never stored by the CDN or the browser."""
    response.headers["Cache-Control"] = "private, no-store"
    return response

MARK = "billionsongs.page_key"
ENDPOINT = "songs.song"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # what web.app accepts
_SONG_PATH = re.compile(r"^/song/(0|[1-9][0-9]{0,19})$")  # canonical ids only
# Request headers that make an answer depend on more than the path.
_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE",
                "HTTP_RANGE", "HTTP_IF_RANGE")


def mark(environ: dict, release: str, song_id: int) -> None:
    """Called by the song view: this request's page may be kept, as (release, id)."""
    environ[MARK] = (release, song_id)


def _root(environ: dict) -> tuple[str, str, str]:
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    return environ.get("wsgi.url_scheme", "http"), host, environ.get("SCRIPT_NAME", "")


class PageCache:
    """WSGI middleware in front of the Flask app (behind ProxyFix, so the root URL
    it keys by is the one Flask sees)."""

    def __init__(self, app: Callable, current_release: Callable[[], str], max_entries: int = 2048):
        self.app = app
        self.current_release = current_release
        self.max_entries = max_entries
        self._pages: OrderedDict[tuple, tuple[str, list[tuple[str, str]], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()

    def __call__(self, environ: dict, start_response):
        match = _SONG_PATH.match(environ.get("PATH_INFO", ""))
        if (match is None or environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING")
                or any(name in environ for name in _CONDITIONAL)):
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            release = self.current_release()
        except Exception:  # Flask answers (the release error page) as it always did
            return self.app(environ, start_response)
        song_id = int(match.group(1))
        key = (release, song_id, _root(environ))
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
        if page is None:
            return self._through_flask(environ, start_response, key)
        return self._answer(environ, start_response, page, started)

    def _answer(self, environ, start_response, page, started):
        status, headers, body = page
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else new_request_id()
        token = request_id_var.set(request_id)
        try:
            start_response(status, [*headers, ("X-Request-ID", request_id)])
            elapsed = time.perf_counter() - started
            metrics.SONG_SOURCE.labels("page").inc()
            metrics.HTTP_REQUESTS.labels(ENDPOINT, "GET", "200").inc()
            metrics.HTTP_LATENCY.labels(ENDPOINT).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                path = environ.get("PATH_INFO", "")
                log.info("%s %s %s", "GET", path, 200, extra=log_fields(
                    method="GET", path=path, status=200, ms=round(elapsed * 1000, 1), endpoint=ENDPOINT))
        finally:
            request_id_var.reset(token)
        return [body]

    def _through_flask(self, environ, start_response, key):
        seen = {}

        def keep_status(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = self.app(environ, keep_status)
        marked = environ.get(MARK)
        if marked is None or marked != key[:2] or not seen.get("status", "").startswith("200 "):
            return body
        headers = [(name, value) for name, value in seen["headers"] if name.lower() != "x-request-id"]
        if not any(n.lower() == "cache-control" and "public" in v for n, v in headers):
            return body  # only what every visitor may share
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        with self._lock:
            self._pages[key] = (seen["status"], headers, data)
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_entries:
                self._pages.popitem(last=False)
        return [data]
