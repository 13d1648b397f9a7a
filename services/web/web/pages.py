"""Make Random, Top 10, My votes and the privacy page."""
from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, url_for

from web.util import current_user, ext, login_required, private, public, random_song_url

bp = Blueprint("pages", __name__)

TOP_MAX_AGE = 300  # Top 10 may be five minutes old, at the CDN and in browsers


@bp.get("/")
def make_random():
    # A fresh pick on every press: never cached anywhere.
    return private(redirect(random_song_url(), 302))


@bp.get("/top")
def top():
    songs = ext("clients").top_songs(ext("release").current(), 10)
    return public(make_response(render_template("top.html", songs=songs)), TOP_MAX_AGE, TOP_MAX_AGE)


@bp.get("/my/votes")
@login_required
def my_votes():
    user = current_user()
    votes = ext("clients").user_votes(user["id"], ext("release").current())
    return private(make_response(render_template("my_votes.html", votes=votes, user=user)))


@bp.get("/privacy")
def privacy():
    return public(make_response(render_template("privacy.html")), 3600, 86400)
