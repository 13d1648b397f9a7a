"""The song's tune on the web: /api/songs/<id>/melody, /song/<id>.mid and /song/<id>.abc
(web/tunes.py) beside the song page: content, CDN caching, ids, failed songs."""
from __future__ import annotations

import io
import json

import mido
import pytest

from tests.support.web_fakes import fake_song
from web import tunes
from web.app import _site_version
from web.melody import syllables
from web.state import state

ROUTES = ("/api/songs/{}/melody", "/song/{}.mid", "/song/{}.abc")


def test_the_melody_document_sings_every_syllable_of_the_song(client):
    response = client.get("/api/songs/2024/melody")
    assert response.status_code == 200
    melody = response.get_json()
    title, lyrics = fake_song(2024)
    parsed = syllables.parse(lyrics)
    assert melody["id"] == "2024" and melody["model_release"]
    assert [w["text"] for w in melody["words"]] == [w.text for w in parsed.words]
    sung = [(n["word"], n["syllable_index"]) for n in melody["notes"]]
    assert sung == [(s.word, s.index) for w in parsed.words for s in w.syllables]
    assert [line["text"] for line in melody["lines"]] == ["I counted to 2024 in the rain", "and every number sang",
                                                          "la la 1"]
    assert melody["abc"].startswith("X:1\n") and "w:I count-ed to 2024 in the rain" in melody["abc"]
    onsets = [n["onset"] for n in melody["notes"]]
    assert onsets == sorted(onsets) and onsets[0] == 0
    assert all(0 <= n["pitch"] <= 127 and n["duration"] > 0 for n in melody["notes"])


def test_the_midi_file_holds_the_notes_and_the_words(client):
    response = client.get("/song/2024.mid")
    assert response.status_code == 200
    assert response.mimetype == "audio/midi"
    assert response.headers["Content-Disposition"] == 'attachment; filename="billion-songs-2024.mid"'
    midi = mido.MidiFile(file=io.BytesIO(response.get_data()))
    pitches = [m.note for m in midi.tracks[0] if m.type == "note_on"]
    document = client.get("/api/songs/2024/melody").get_json()
    assert pitches == [n["pitch"] for n in document["notes"]]
    words = "".join(m.text for m in midi.tracks[0] if m.type == "lyrics").split()
    assert words[:4] == ["I", "count-ed", "to", "2024"]


def test_the_abc_score_is_text(client):
    response = client.get("/song/2024.abc")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/vnd.abc; charset=utf-8"
    assert response.get_data(as_text=True) == client.get("/api/songs/2024/melody").get_json()["abc"]


@pytest.mark.parametrize("route", ROUTES)
def test_tunes_are_cacheable_by_the_cdn_and_set_no_cookie(client, auth, route):
    auth.register()
    response = client.get(route.format(77))
    assert response.status_code == 200
    cache_control = response.headers["Cache-Control"]
    assert "public" in cache_control and "s-maxage=2592000" in cache_control and "max-age=3600" in cache_control
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    for tag in (etag, "W/" + etag, f'"other", {etag}'):
        again = client.get(route.format(77), headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.get_data() == b""
        assert "public" in again.headers["Cache-Control"] and "Set-Cookie" not in again.headers


def test_etags_differ_by_song_kind_release_and_melody_release(client, fakes, app, monkeypatch):
    tags = {route: client.get(route.format(5)).headers["ETag"] for route in ROUTES}
    assert len(set(tags.values())) == 3
    assert client.get(ROUTES[0].format(6)).headers["ETag"] != tags[ROUTES[0]]
    monkeypatch.setattr(tunes, "release", lambda: "9.another-composer")
    for route, tag in tags.items():
        response = client.get(route.format(5), headers={"If-None-Match": tag})
        assert response.status_code == 200 and response.headers["ETag"] != tag
    monkeypatch.undo()
    fakes.generator.release = "rel-test-2"
    state(app).release._fetched_at = float("-inf")
    assert client.get(ROUTES[0].format(5), headers={"If-None-Match": tags[ROUTES[0]]}).status_code == 200


def test_revalidation_is_answered_before_redis_or_the_generator(client, fakes, monkeypatch):
    tag = client.get("/song/8.mid").headers["ETag"]
    calls = list(fakes.generator.calls)
    monkeypatch.setattr(state(client.application).songs, "lookup", lambda *a: pytest.fail("looked the song up"))
    assert client.get("/song/8.mid", headers={"If-None-Match": tag}).status_code == 304
    assert fakes.generator.calls == calls


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("bad", ["abc", "-1", "+5", "1.5", "18446744073709551616", "99999999999999999999999999",
                                 "%EF%BC%91", "%20", "1e3", "0x10", "٣"])
def test_bad_ids_are_404(client, fakes, route, bad):
    response = client.get(route.format(bad))
    assert response.status_code == 404
    assert fakes.generator.calls == []


@pytest.mark.parametrize("path,target", [("/song/007.mid", "/song/7.mid"), ("/song/0000.abc", "/song/0.abc"),
                                         ("/song/018446744073709551615.mid", "/song/18446744073709551615.mid")])
def test_file_urls_of_non_canonical_ids_redirect_as_the_song_page_does(client, path, target):
    response = client.get(path)
    assert response.status_code == 301 and response.headers["Location"] == target


def test_the_api_takes_only_canonical_ids(client, fakes):
    assert client.get("/api/songs/007/melody").status_code == 404
    assert fakes.generator.calls == []


@pytest.mark.parametrize("route", ROUTES)
def test_a_failed_song_has_no_tune(client, fakes, route):
    fakes.generator.failed_ids.add(13)
    response = client.get(route.format(13))
    assert response.status_code == 404


def test_the_largest_id_has_a_tune(client):
    assert client.get("/song/18446744073709551615.mid").status_code == 200


def test_the_song_page_offers_the_tune_only_to_scripts(client):
    html = client.get("/song/2024").get_data(as_text=True)
    assert '<section class="melody" data-melody-src="/api/songs/2024/melody" aria-label="The tune" hidden>' in html
    assert "/static/vendor/abcjs/abcjs-basic-min.js?v=" in html and "/static/melody.js?v=" in html
    assert '<div class="lyrics">I counted to 2024 in the rain' in html  # the lyrics as they were


def test_the_song_pages_etag_changes_with_the_melody_release(app):
    from pathlib import Path
    root = Path(app.root_path)
    assert _site_version(root, "1.aaaa") != _site_version(root, "2.aaaa")
    assert state(app).site_version == _site_version(root, tunes.release())


def test_openapi_documents_the_melody(client):
    spec = client.get("/api/openapi.json").get_json()
    schema = spec["paths"]["/api/songs/{song_id}/melody"]["get"]["responses"]["200"]["content"]["application/json"]
    document = client.get("/api/songs/3/melody").get_json()
    assert set(schema["schema"]["required"]) == set(document)
    note = schema["schema"]["properties"]["notes"]["items"]
    assert set(note["required"]) == set(document["notes"][0])
    json.dumps(spec)
