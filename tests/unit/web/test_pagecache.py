"""Finished song pages kept in the worker's memory (web/pagecache.py): the same
bytes and headers as Flask's answer, a request id of its own, counted and
logged, never for what Flask alone must answer, never across releases or root URLs."""
from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from billionsongs.common.songcache import SongCache
from billionsongs.common.songs import Song
from tests.support.web_fakes import RELEASE, make_settings
from web.app import create_app
from web.pagecache import PageCache
from web.state import state


def pages(app) -> PageCache:
    return state(app).page_cache


def without_request_id(response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.items() if k != "X-Request-ID"]


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_second_visit_is_the_same_page_without_redis_or_flask(app, client, fakes, redis_client):
    first = client.get("/song/4242")
    assert first.status_code == 200 and len(pages(app)) == 1
    redis_client.flushall()  # neither the song cache nor the generator is asked again
    fakes.generator.down = True
    second = client.get("/song/4242")
    assert second.status_code == 200
    assert second.get_data() == first.get_data()
    assert without_request_id(second) == without_request_id(first)
    assert "Set-Cookie" not in second.headers and "Vary" not in second.headers
    assert fakes.generator.calls == [4242]


def test_kept_page_sets_no_cookie_for_a_signed_in_visitor(app, client, auth):
    client.get("/song/77")
    auth.register()
    response = client.get("/song/77")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert "alice" not in response.get_data(as_text=True)


def test_every_answer_has_its_own_request_id(app, client):
    client.get("/song/5")
    ids = {client.get("/song/5").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)
    assert client.get("/song/5", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    bad = client.get("/song/5", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert bad != "bad id <script>" and len(bad) == 32


def test_kept_answers_are_counted_and_logged(app, client, caplog):
    client.get("/song/6")
    before = (sample("web_http_requests_total", endpoint="songs.song", method="GET", status="200"),
              sample("web_http_request_duration_seconds_count", endpoint="songs.song"),
              sample("web_song_source_total", source="page"))
    with caplog.at_level(logging.INFO, logger="web.access"):
        request_id = client.get("/song/6").headers["X-Request-ID"]
    after = (sample("web_http_requests_total", endpoint="songs.song", method="GET", status="200"),
             sample("web_http_request_duration_seconds_count", endpoint="songs.song"),
             sample("web_song_source_total", source="page"))
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1]
    [line] = [r for r in caplog.records if r.name == "web.access"]
    assert line.fields["path"] == "/song/6" and line.fields["status"] == 200
    assert line.fields["endpoint"] == "songs.song"
    assert request_id  # the line was written with the request id set (JsonFormatter reads it)


def test_revalidation_still_answers_304(app, client):
    etag = client.get("/song/8").headers["ETag"]
    again = client.get("/song/8", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert client.get("/song/8", headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("path", ["/song/9?x=1", "/song/009"])
def test_query_strings_and_non_canonical_ids_go_to_flask(app, client, path):
    client.get(path)
    assert len(pages(app)) == 0


def test_head_goes_to_flask_and_keeps_nothing(app, client):
    response = client.head("/song/10")
    assert response.status_code == 200 and response.get_data() == b""
    assert len(pages(app)) == 0


def test_failed_songs_are_not_kept(app, client, fakes):
    fakes.generator.failed_ids.add(13)
    assert client.get("/song/13").status_code == 404
    assert client.get("/song/13").status_code == 404
    assert len(pages(app)) == 0


def test_a_new_release_never_gets_the_old_page(app, client, fakes, redis_client):
    old = client.get("/song/21")
    fakes.generator.release = "rel-test-2"
    state(app).release.expire()
    new = client.get("/song/21")
    assert new.headers["ETag"] != old.headers["ETag"]
    assert "as written by rel-test-2" in new.get_data(as_text=True)
    assert "as written by rel-test-2" in client.get("/song/21").get_data(as_text=True)


def test_page_of_a_newer_release_than_asked_is_not_kept(app, client, fakes, redis_client):
    # The worker still believes in RELEASE; the generator already writes rel-test-2.
    state(app).release.current()
    fakes.generator.release = "rel-test-2"
    client.get("/song/22")
    assert len(pages(app)) == 0


def test_pages_are_kept_per_root_url(fakes, redis_url):
    # No PUBLIC_URL: canonical links come from the request's host.
    app = create_app({"SETTINGS": make_settings(fakes, redis_url, public_url=""), "TESTING": True})
    client = app.test_client()
    one = client.get("/song/30", base_url="http://one.example").get_data(as_text=True)
    two = client.get("/song/30", base_url="http://two.example").get_data(as_text=True)
    again = client.get("/song/30", base_url="http://one.example").get_data(as_text=True)
    assert 'href="http://one.example/song/30"' in one and 'href="http://two.example/song/30"' in two
    assert again == one and len(pages(app)) == 2
    state(app).clients.close()


def test_stored_song_page_is_kept_too(app, client, redis_client):
    SongCache(redis_client).put(Song(99, RELEASE, "From the cache", "cached words"))
    first = client.get("/song/99").get_data()
    redis_client.flushall()
    assert client.get("/song/99").get_data() == first


def test_least_recently_used_pages_go_first():
    served = []

    def flask(environ, start_response):
        from web import pagecache
        song_id = int(environ["PATH_INFO"].rsplit("/", 1)[1])
        served.append(song_id)
        pagecache.mark(environ, "r", song_id)
        start_response("200 OK", [("Cache-Control", "public, max-age=1"), ("X-Request-ID", "x")])
        return [b"page %d" % song_id]

    cache = PageCache(flask, lambda: "r", max_entries=2)
    env = {"REQUEST_METHOD": "GET", "HTTP_HOST": "h", "wsgi.url_scheme": "http"}
    for song_id in (1, 2, 1, 3, 1, 2):
        assert cache({**env, "PATH_INFO": f"/song/{song_id}"}, lambda *a: None) == [b"page %d" % song_id]
    assert served == [1, 2, 3, 2]  # 2 was the least recently used when 3 came


def test_private_answers_are_never_kept():
    def flask(environ, start_response):
        from web import pagecache
        pagecache.mark(environ, "r", 1)
        start_response("200 OK", [("Cache-Control", "private, no-store")])
        return [b"mine"]

    cache = PageCache(flask, lambda: "r")
    cache({"REQUEST_METHOD": "GET", "PATH_INFO": "/song/1", "HTTP_HOST": "h"}, lambda *a: None)
    assert len(cache) == 0


def test_unknown_release_leaves_the_answer_to_flask(fakes, redis_url):
    fakes.generator.down = True  # a fresh worker, nothing remembered: Flask's 503 page
    app = create_app({"SETTINGS": make_settings(fakes, redis_url), "TESTING": True})
    response = app.test_client().get("/song/40")
    assert response.status_code == 503 and len(pages(app)) == 0
    state(app).clients.close()
