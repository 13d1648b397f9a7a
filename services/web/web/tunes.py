"""Every song's tune (web/melody/): the score in ABC (``/song/<id>.abc``), a MIDI file
(``/song/<id>.mid``) and the melody in the JSON API (``/api/songs/<id>/melody``),
which the song page's script fetches to draw the score and play it.

Each is the same for every visitor, like the song page: public, the song page's
max-age and s-maxage, a strong ETag of (model release, id, melody release) answered
with 304 before Redis is touched, no cookie. The melody is computed from the finished
song when asked for, never stored; a worker keeps the last MELODY_CACHE it made.
Song ids follow the routes they sit beside: the files take the song page's rules
(``/song/007.mid`` -> 301 ``/song/7.mid``), the API the API's (only canonical ids;
anything else 404), and a failed song is 404 everywhere.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

from flask import Blueprint, jsonify, make_response, redirect, request, url_for
from werkzeug.http import is_resource_modified

from billionsongs.common.ids import parse_song_id
from web.errors import NoSuchSong
from web.melody.abc import to_abc
from web.melody.compose import Melody, compose, release
from web.melody.document import to_document
from web.melody.midi import to_midi
from web.pagecache import public
from web.songstore import ready_song
from web.state import state

bp = Blueprint("tunes", __name__)
MELODY_CACHE = 256  # melodies kept per worker: a page's score and its MIDI download are asked for together


@lru_cache(maxsize=MELODY_CACHE)
def melody_of(title: str, lyrics: str) -> Melody:
    """The song's melody (web.melody.compose.compose), memoised per worker."""
    return compose(title, lyrics)


def melody_etag(model_release: str, song_id: int, kind: str) -> str:
    """The strong ETag of a song's ``kind`` of tune answer: the model release that wrote
    the words, the id and the melody release (rules version and model digest)."""
    text = f"{kind}\0{model_release}\0{song_id}\0{release()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cacheable(response, etag: str):
    settings = state().settings
    public(response, settings.song_max_age, settings.song_s_maxage)
    response.set_etag(etag)
    return response.make_conditional(request)


def _not_modified(song_id: int, kind: str):
    """The 304 for a revalidation that matches this release's tag, else None. As the song
    page: "*" is left to the full answer, which knows whether the song exists."""
    etag = melody_etag(state().release.current(), song_id, kind)
    if request.if_none_match and not request.if_none_match.star_tag \
            and not is_resource_modified(request.environ, etag=etag):
        response = make_response("", 304)
        return _cacheable(response, etag)
    return None


def _file_song_id(id_text: str, endpoint: str):
    """The canonical id of a file URL, or a 301 there for other spellings; 404 for no id."""
    song_id = parse_song_id(id_text)
    if song_id is None:
        raise NoSuchSong()
    if id_text != str(song_id):
        target = url_for(endpoint, id_text=str(song_id))
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
        return song_id, public(redirect(target, 301), 86400, 86400)
    return song_id, None


@bp.get("/song/<id_text>.mid")
def midi(id_text: str):
    song_id, moved = _file_song_id(id_text, "tunes.midi")
    if moved is not None:
        return moved
    cached = _not_modified(song_id, "midi")
    if cached is not None:
        return cached
    song = ready_song(song_id)
    response = make_response(to_midi(melody_of(song.title, song.lyrics)))
    response.mimetype = "audio/midi"
    response.headers["Content-Disposition"] = f'attachment; filename="billion-songs-{song_id}.mid"'
    return _cacheable(response, melody_etag(song.model_release, song_id, "midi"))


@bp.get("/song/<id_text>.abc")
def abc(id_text: str):
    song_id, moved = _file_song_id(id_text, "tunes.abc")
    if moved is not None:
        return moved
    cached = _not_modified(song_id, "abc")
    if cached is not None:
        return cached
    song = ready_song(song_id)
    response = make_response(to_abc(melody_of(song.title, song.lyrics)))
    response.mimetype = "text/vnd.abc"
    return _cacheable(response, melody_etag(song.model_release, song_id, "abc"))


@bp.get("/api/songs/<id_text>/melody")
def melody_json(id_text: str):
    song_id = parse_song_id(id_text)
    if song_id is None or id_text != str(song_id):
        raise NoSuchSong()
    cached = _not_modified(song_id, "json")
    if cached is not None:
        return cached
    song = ready_song(song_id)
    document = {"id": str(song_id), "model_release": song.model_release,
                **to_document(melody_of(song.title, song.lyrics))}
    return _cacheable(jsonify(document), melody_etag(song.model_release, song_id, "json"))
