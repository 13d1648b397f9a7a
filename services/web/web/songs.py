"""The song page, the song being written, and the vote widget.

The song page is the same for every visitor (docs/architecture.md, invariant 4): public, long s-maxage,
a strong ETag from (model release, id, site version), no session access. What is
personal (votes, sign-in) lives in the vote widget, loaded in an iframe, private.
"""
from __future__ import annotations

import time

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from markupsafe import escape
from werkzeug.http import is_resource_modified

from billionsongs.common.ids import parse_song_id
from billionsongs.common.songs import Song
from web import metrics, pagecache
from web.auth import current_user
from web.clients import ServiceError, Unavailable
from web.errors import NoSuchSong
from web.pagecache import private, public, song_etag
from web.songstore import Piece, random_song_url, ready_song
from web.state import state

bp = Blueprint("songs", __name__)


def canonical_id_or_404(id_text: str) -> int:
    song_id = parse_song_id(id_text)
    if song_id is None:
        raise NoSuchSong()
    return song_id


def excerpt(lyrics: str, lines: int = 3, chars: int = 200) -> str:
    kept = [line.strip() for line in lyrics.splitlines() if line.strip()][:lines]
    text = " / ".join(kept)
    return text if len(text) <= chars else text[:chars - 1].rstrip() + "…"


def render_song(song: Song, asked_release: str = "") -> Response:
    """The finished page. When the song is of ``asked_release`` (the release this
    request keys by), the page may be kept in memory and served without Flask
    (web/pagecache.py): it is the same for every visitor of this root URL."""
    html = render_template("songs/song.html", song=song, song_id=str(song.song_id),
                           description=excerpt(song.lyrics))
    response = make_response(html)
    settings = state().settings
    public(response, settings.song_max_age, settings.song_s_maxage)
    response.set_etag(song_etag(song.model_release, song.song_id))
    if song.model_release == asked_release:
        pagecache.mark(request.environ, asked_release, song.song_id)
    return response


def failed_song(song_id: int):
    if request.args.get("fallback") == "random":
        response = redirect(random_song_url(), 302)
        return private(response)
    raise NoSuchSong()


@bp.get("/song/<id_text>")
def song(id_text: str):
    song_id = canonical_id_or_404(id_text)
    if id_text != str(song_id):
        target = url_for("songs.song", id_text=str(song_id))
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
        response = redirect(target, 301)
        return public(response, 86400, 86400)
    release = state().release.current()
    etag = song_etag(release, song_id)
    # Revalidation before Redis is touched. RFC 9110 §13.1.2: weak comparison, so a CDN's
    # or a compressing proxy's W/"…" matches, and a list of tags matches if any does.
    # "*" matches only when the song exists: left to the finished response below.
    if not request.if_none_match.star_tag and not is_resource_modified(request.environ, etag=etag):
        response = make_response("", 304)
        response.set_etag(etag)
        settings = state().settings
        return public(response, settings.song_max_age, settings.song_s_maxage)

    found, source = state().songs.lookup(release, song_id)
    if found is not None:
        metrics.SONG_SOURCE.labels(source).inc()
        return failed_song(song_id) if found.failed else render_song(found, release)
    return generate_page(release, song_id)


def generate_page(release: str, song_id: int):
    """Wait a moment for a new song; if it takes longer, stream it as it is written."""
    events = state().songs.generate(release, song_id)
    pieces: list[Piece] = []
    deadline = time.monotonic() + state().settings.stream_after_s
    for event in events:  # Unavailable before anything arrived -> the 503 page
        if isinstance(event, Song):
            metrics.SONG_SOURCE.labels("generated").inc()
            return failed_song(song_id) if event.failed else render_song(event, release)
        pieces.append(event)
        if time.monotonic() >= deadline:
            break
    else:
        raise Unavailable("generation ended without a song")
    metrics.SONG_SOURCE.labels("streamed").inc()
    return Response(stream_with_context(_stream_page(song_id, pieces, events)),
                    headers={"Cache-Control": "private, no-store", "X-Accel-Buffering": "no"},
                    mimetype="text/html")


def _stream_page(song_id: int, pieces: list[Piece], events):
    """A chunked page that shows the song as it is written, then reloads itself into
    the finished (cacheable) page with a meta refresh: no inline script needed."""
    head, _, tail = render_template("songs/writing.html", song_id=str(song_id)).partition("<!--STREAM-->")
    yield head
    in_lyrics = False

    def write(piece: Piece):
        nonlocal in_lyrics
        out = ""
        if piece.title and not in_lyrics:
            out += str(escape(piece.title))
        if piece.lyrics:
            if not in_lyrics:
                out += '</h1><div class="lyrics lyrics-writing">'
                in_lyrics = True
            out += str(escape(piece.lyrics))
        return out

    for piece in pieces:
        yield write(piece)
    outcome = "done"
    try:
        for event in events:
            if isinstance(event, Song):
                outcome = "failed" if event.failed else "done"
                break
            yield write(event)
    except Exception:  # the generator went away mid-song; the status line is long sent
        current_app.logger.warning("stream of song %s broke off", song_id, exc_info=True)
        outcome = "broken"
    if not in_lyrics:
        yield '</h1><div class="lyrics lyrics-writing">'
    yield "</div>"
    url = url_for("songs.song", id_text=str(song_id))
    if outcome == "done":
        yield (f'<meta http-equiv="refresh" content="0; url={url}">'
               f'<p class="writing-status">Finished. <a href="{url}">Open the song</a>.</p>')
    elif outcome == "failed":
        yield (f'<meta http-equiv="refresh" content="1; url={url}?fallback=random">'
               '<p class="writing-status">This one did not work out. Taking you to another song…</p>')
    else:
        yield (f'<p class="writing-status">The songwriter stopped mid-song. '
               f'<a href="{url}">Try again</a> in a minute.</p>')
    yield tail


# --- the vote widget (iframe) ---------------------------------------------------------

@bp.route("/song/<id_text>/vote", methods=["GET", "POST"])
def vote_widget(id_text: str):
    song_id = canonical_id_or_404(id_text)
    g.frameable = True  # only this page may sit in a frame, and only on our own pages
    release = state().release.current()
    clients = state().clients
    error = None
    if request.method == "POST":
        user = current_user()
        if user is None:
            abort(401)
        choice = request.form.get("vote", "")
        if choice not in ("up", "down", "none"):
            abort(400)
        song = ready_song(song_id)
        clients.cast_vote(user["id"], song, None if choice == "none" else choice)
        return private(redirect(url_for("songs.vote_widget", id_text=str(song_id)), 303))
    try:
        user = current_user()  # asks the votes service whether the session still holds
        votes = clients.song_votes(song_id, release, user["id"] if user else 0)
    except ServiceError:
        user, votes, error = None, None, "Votes are unavailable right now."
    html = render_template("songs/vote_widget.html", song_id=str(song_id), votes=votes, user=user, error=error)
    return private(make_response(html))
