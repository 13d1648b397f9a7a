"""The JSON API, exactly as the table in docs/architecture.md. Ids are strings in JSON:
uint64 does not survive JavaScript numbers. Same session cookie as the pages; every
POST/PUT/DELETE carries X-CSRF-Token (CSRFProtect checks it): the csrf_token of GET
/api/session, and after POST /api/register or /api/login the one in their answer
(signing in starts a fresh session, which makes the earlier token stale)."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, make_response, request, url_for
from flask_wtf.csrf import generate_csrf

from billionsongs.common.ids import parse_decimal, parse_song_id
from web import auth
from web.auth import current_user, sign_in
from web.clients import Unauthenticated
from web.errors import NoSuchSong, error_response
from web.pagecache import TOP_MAX_AGE, private, public, song_etag
from web.songstore import random_pick, ready_song
from web.state import state

bp = Blueprint("api", __name__, url_prefix="/api")
TOP_LIMIT_MAX = 100


def _song_id(id_text: str) -> int:
    song_id = parse_song_id(id_text)
    if song_id is None or id_text != str(song_id):
        raise NoSuchSong()
    return song_id


def _absolute(path: str) -> str:
    base = state().settings.public_url or request.host_url.rstrip("/")
    return base + path


def _signed_in():
    user = current_user()
    if user is None:
        abort(401)
    return user


@bp.get("/songs/<id_text>")
def song(id_text: str):
    song = ready_song(_song_id(id_text))
    response = jsonify(id=str(song.song_id), title=song.title, lyrics=song.lyrics,
                       model_release=song.model_release)
    settings = state().settings
    public(response, settings.song_max_age, settings.song_s_maxage)
    response.set_etag(song_etag(song.model_release, song.song_id))
    return response.make_conditional(request)


@bp.get("/random")
def random_song():
    song_id, _ = random_pick()
    return private(jsonify(id=str(song_id), url=_absolute(url_for("songs.song", id_text=str(song_id)))))


@bp.get("/top")
def top():
    limit = parse_decimal(request.args.get("limit", "10"), 1, TOP_LIMIT_MAX, max_digits=6)
    if limit is None:
        return error_response(400, f"limit must be a number from 1 to {TOP_LIMIT_MAX} in ASCII digits")
    songs = state().clients.top_songs(state().release.current(), limit)
    response = jsonify(songs=[{"id": str(s.song_id), "title": s.title, "up": s.up, "down": s.down,
                               "score": s.score} for s in songs])
    return public(response, TOP_MAX_AGE, TOP_MAX_AGE)


@bp.get("/session")
def session_info():
    user = current_user()
    return private(jsonify(user={"name": user["name"]} if user else None, csrf_token=generate_csrf()))


@bp.post("/register")
def register():
    data = auth.json_body()
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return error_response(400, "username and password must be strings")
    try:
        user, problem = auth.register_user(username.strip(), password)
    except auth.RateLimited as limited:
        return error_response(429, "too many registrations from this address; wait and retry",
                              retry_after=limited.retry_after)
    if problem:
        return error_response(*problem)
    sign_in(user)
    response = make_response(jsonify(user={"name": user.name}, csrf_token=generate_csrf()), 201)
    return private(auth.with_hint(response, True))


@bp.post("/login")
def login():
    data = auth.json_body()
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or auth.validate(username, password):
        return error_response(400, "username and password are required strings")
    try:
        user = auth.authenticate(username.strip(), password)
    except auth.RateLimited as limited:
        return error_response(429, "too many sign-in attempts; wait and retry", retry_after=limited.retry_after)
    if user is None:
        return error_response(401, "wrong user name or password")
    sign_in(user)
    # Signing in starts a new session, so the client needs the new token.
    return private(auth.with_hint(jsonify(user={"name": user.name}, csrf_token=generate_csrf()), True))


@bp.post("/logout")
def logout():
    auth.sign_out()
    return private(auth.with_hint(make_response("", 204), False))


@bp.get("/songs/<id_text>/votes")
def song_votes(id_text: str):
    song_id = _song_id(id_text)
    user = current_user()
    votes = state().clients.song_votes(song_id, state().release.current(), user["id"] if user else 0)
    return private(jsonify(votes.to_json()))


@bp.put("/songs/<id_text>/vote")
def vote(id_text: str):
    song_id = _song_id(id_text)
    user = _signed_in()
    data = auth.json_body()
    if "vote" not in data or data["vote"] not in ("up", "down", None):
        return error_response(400, 'vote must be "up", "down" or null')
    song = ready_song(song_id)
    try:
        votes = state().clients.cast_vote(user["id"], song, data["vote"])
    except Unauthenticated:
        abort(401)
    return private(jsonify(votes.to_json()))


@bp.get("/me/votes")
def my_votes():
    user = _signed_in()
    votes = state().clients.user_votes(user["id"], state().release.current())
    return private(jsonify(votes=[{"id": str(v.song_id), "title": v.title, "vote": v.vote} for v in votes]))
