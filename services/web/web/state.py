"""What the app builds once and every request uses: settings, backend clients, Redis,
the model release, the song store. ``create_app`` makes one ``WebState``; views reach
it through ``state()``, a typed accessor (flaskr's ``get_db()``), not string keys."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    import redis

    from web.clients import Clients
    from web.pagecache import PageCache
    from web.settings import WebSettings
    from web.songstore import ReleaseTracker, SongStore

_KEY = "billionsongs"


@dataclass
class WebState:
    settings: WebSettings
    clients: Clients
    redis: redis.Redis
    release: ReleaseTracker   # the generator's current model release
    songs: SongStore          # where song text comes from
    site_version: str         # hash of templates and static files (web.app._site_version)
    page_cache: PageCache | None = None  # finished song pages in memory (the outermost WSGI layer)
    favicon: bytes | None = None  # /favicon.ico, read on first request


def install(app: Flask, web_state: WebState) -> None:
    app.extensions[_KEY] = web_state


def state(app: Flask | None = None) -> WebState:
    """The running app's WebState (``app`` outside a request)."""
    return (app or current_app).extensions[_KEY]
