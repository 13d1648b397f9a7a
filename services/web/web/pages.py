"""Make Random, Top 10, My votes, the privacy page, and what browsers and crawlers
ask every site for: /favicon.ico and /robots.txt."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, make_response, redirect, render_template

from web.auth import current_user, login_required
from web.pagecache import TOP_MAX_AGE, private, public
from web.songstore import random_song_url
from web.state import state

bp = Blueprint("pages", __name__)

WELL_KNOWN_MAX_AGE = 86400  # /favicon.ico and /robots.txt: unversioned URLs, a day is fresh enough

# Crawlers may read songs, Top 10 and the privacy page; sign-in forms, the per-visitor
# vote widget, My votes and the JSON API are not for indexes.
ROBOTS_TXT = """\
User-agent: *
Disallow: /auth/
Disallow: /account
Disallow: /api/
Disallow: /my/
Disallow: /song/*/vote
Allow: /
"""


@bp.get("/")
def make_random():
    # A fresh pick on every press: never cached anywhere.
    return private(redirect(random_song_url(), 302))


@bp.get("/top")
def top():
    songs = state().clients.top_songs(state().release.current(), 10)
    return public(make_response(render_template("top.html", songs=songs)), TOP_MAX_AGE, TOP_MAX_AGE)


@bp.get("/my/votes")
@login_required
def my_votes():
    user = current_user()
    votes = state().clients.user_votes(user["id"], state().release.current())
    return private(make_response(render_template("my_votes.html", votes=votes, user=user)))


@bp.get("/privacy")
def privacy():
    return public(make_response(render_template("privacy.html")), 3600, 86400)


@bp.get("/robots.txt")
def robots_txt():
    response = make_response(ROBOTS_TXT)
    response.mimetype = "text/plain"
    return public(response, WELL_KNOWN_MAX_AGE, WELL_KNOWN_MAX_AGE)


@bp.get("/favicon.ico")
def favicon():
    # The same icon as favicon.svg (tools/make_favicon.py), for browsers that ask here;
    # 1.3 kB, read once. The ETag and 304s come from the app's conditional hook.
    icon = state().favicon
    if icon is None:
        icon = state().favicon = (Path(current_app.static_folder) / "favicon.ico").read_bytes()
    response = make_response(icon)
    response.mimetype = "image/vnd.microsoft.icon"
    return public(response, WELL_KNOWN_MAX_AGE, WELL_KNOWN_MAX_AGE)
