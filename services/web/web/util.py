"""Small helpers the blueprints share: services of this app, cache headers, the user."""
from __future__ import annotations

import functools
import random
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for

from web import metrics


def ext(name: str):
    return current_app.extensions["billionsongs"][name]


def public(response, max_age: int, s_maxage: int):
    """Cacheable by browsers and the CDN; the session interface then never sets a cookie."""
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    response.cache_control.s_maxage = s_maxage
    return response


def private(response):
    response.headers["Cache-Control"] = "private, no-store"
    return response


def current_user() -> dict | None:
    """The signed-in user as {"id", "name"} (reads the session: never on public pages)."""
    if "uid" not in session:
        return None
    return {"id": int(session["uid"]), "name": session.get("name", "")}


def sign_in(user) -> None:
    session.clear()  # a fresh session on sign-in: no fixation of an older one
    session.permanent = True
    session["uid"] = user.user_id
    session["name"] = user.name


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so ?next= cannot send a visitor elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def absolute(path: str) -> str:
    base = ext("settings").public_url or request.host_url.rstrip("/")
    return base + path


def random_song_id() -> tuple[int, str]:
    """Make Random's pick: 3 in 4 from the pregenerated pool, 1 in 4 from top songs
    (billionsongs.common.pool decides); a uniform id when both are empty."""
    pick = current_app.config.get("PICK_RANDOM")
    if pick is None:
        from billionsongs.common.pool import pick_random_song as pick
    rng = g.setdefault("rng", random.SystemRandom())
    try:
        picked = pick(ext("redis"), ext("release").current(), rng)
    except Exception:  # Redis trouble must not break the front door
        current_app.logger.warning("random pick failed; using a uniform id", exc_info=True)
        picked = None
    if not picked or picked[0] is None:
        song_id, source = rng.getrandbits(64), "uniform"
    else:
        song_id, source = picked
    metrics.RANDOM_SOURCE.labels(source or "unknown").inc()
    return int(song_id), source


def random_song_url() -> str:
    """Where Make Random sends a visitor. Pooled and top songs are known to be good;
    a fresh id (empty pool) may fail, so it carries ?fallback=random."""
    song_id, source = random_song_id()
    path = url_for("songs.song", id_text=str(song_id))
    return path if source in ("pool", "top") else path + "?fallback=random"
