"""The song page: content, CDN caching headers, ids, single flight, streaming, outages."""
from __future__ import annotations

import re
import threading

import pytest

from billionsongs.common.songcache import SongCache
from billionsongs.common.songpool import DEFAULT_USES_PER_SONG, SongPool
from billionsongs.common.songs import Song
from tests.support.web_fakes import RELEASE, fake_song
from web.state import state


def test_song_page_shows_title_and_lyrics(client, fakes):
    response = client.get("/song/12345")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    title, lyrics = fake_song(12345)
    assert f"<h1 class=\"song-title\">{title}</h1>" in html
    assert "I counted to 12345 in the rain" in html
    assert fakes.generator.calls == [12345]


def test_song_page_is_cacheable_by_the_cdn(client):
    response = client.get("/song/77")
    cache_control = response.headers["Cache-Control"]
    assert "public" in cache_control and "s-maxage=2592000" in cache_control and "max-age=3600" in cache_control
    assert response.headers["ETag"].startswith('"') and not response.headers["ETag"].startswith("W/")
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_song_page_sets_no_cookie_for_a_signed_in_visitor(client, auth):
    auth.register()
    response = client.get("/song/77")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "alice" not in response.get_data(as_text=True)  # nothing personal on a cached page


def test_etag_depends_on_release_and_id_and_304(client, fakes, app):
    first = client.get("/song/5").headers["ETag"]
    assert client.get("/song/6").headers["ETag"] != first
    again = client.get("/song/5", headers={"If-None-Match": first})
    assert again.status_code == 304 and again.get_data() == b""
    assert "public" in again.headers["Cache-Control"]
    # a new model release changes every ETag, so old text is never revalidated as new
    fakes.generator.release = "rel-test-2"
    state(app).release._fetched_at = float("-inf")
    assert client.get("/song/5", headers={"If-None-Match": first}).status_code == 200


@pytest.mark.parametrize("path,target", [
    ("/song/007", "/song/7"),
    ("/song/0000", "/song/0"),
    ("/song/018446744073709551615", "/song/18446744073709551615"),
])
def test_non_canonical_ids_redirect_permanently(client, path, target):
    response = client.get(path)
    assert response.status_code == 301
    assert response.headers["Location"] == target


@pytest.mark.parametrize("path", [
    "/song/abc", "/song/-1", "/song/+5", "/song/1.5", "/song/18446744073709551616",
    "/song/99999999999999999999999999", "/song/%EF%BC%91", "/song/%20", "/song/1e3", "/song/0x10",
])
def test_bad_ids_are_404(client, path, fakes):
    response = client.get(path)
    assert response.status_code == 404
    assert "No such song" in response.get_data(as_text=True)
    assert fakes.generator.calls == []


def test_largest_id_works(client):
    assert client.get("/song/18446744073709551615").status_code == 200


def test_cached_song_needs_no_generator(client, fakes, redis_client):
    SongCache(redis_client).put(Song(99, RELEASE, "From the cache", "cached words"))
    response = client.get("/song/99")
    assert "From the cache" in response.get_data(as_text=True)
    assert fakes.generator.calls == []


def test_failed_song_is_404_or_fallback_to_random(client, fakes, pooled_song):
    fakes.generator.failed_ids.add(13)
    assert client.get("/song/13").status_code == 404
    assert fakes.generator.calls == [13]
    response = client.get("/song/13?fallback=random")
    assert response.status_code == 302 and response.headers["Location"] == "/song/4242"
    assert fakes.generator.calls == [13], "a failed song is remembered, not generated again"


def test_generator_down_is_a_friendly_503_and_cached_songs_keep_working(client, fakes, redis_client):
    client.get("/song/1")  # learn the release while the generator is up
    fakes.generator.down = True
    response = client.get("/song/2")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "songwriter" in response.get_data(as_text=True)
    assert "no-store" in response.headers["Cache-Control"]
    assert client.get("/song/1").status_code == 200


def test_generator_down_in_a_fresh_worker_still_serves_cached_songs(fakes, redis_url, redis_client):
    from tests.support.web_fakes import make_settings
    from web.app import create_app
    first = create_app({"SETTINGS": make_settings(fakes, redis_url), "TESTING": True})
    first.test_client().get("/song/1")
    fakes.generator.down = True
    fresh = create_app({"SETTINGS": make_settings(fakes, redis_url), "TESTING": True})
    assert fresh.test_client().get("/song/1").status_code == 200


def test_voted_song_comes_from_the_votes_service_when_not_cached(client, fakes, redis_client):
    client.get("/song/1")
    fakes.votes.stored[(31337, RELEASE)] = ("Durable title", "durable words")
    fakes.generator.down = True
    response = client.get("/song/31337")
    assert response.status_code == 200
    assert "Durable title" in response.get_data(as_text=True)


def test_slow_generation_streams_the_song_being_written(fakes, redis_url):
    from tests.support.web_fakes import make_settings
    from web.app import create_app
    app = create_app({"SETTINGS": make_settings(fakes, redis_url, stream_after_s=0.05), "TESTING": True})
    fakes.generator.piece_delay_s = 0.05
    response = app.test_client().get("/song/555")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers
    html = response.get_data(as_text=True)
    assert "being written" in html
    assert "I counted to 555 in the rain" in html
    assert '<meta http-equiv="refresh" content="0; url=/song/555">' in html
    assert html.rstrip().endswith("</html>")
    # the refresh then gets the finished, cacheable page
    after = app.test_client().get("/song/555")
    assert "public" in after.headers["Cache-Control"] and after.headers["ETag"]


def test_single_flight_generates_once_for_concurrent_visitors(fakes, redis_url):
    from tests.support.web_fakes import make_settings
    from web.app import create_app
    fakes.generator.piece_delay_s = 0.05
    settings = make_settings(fakes, redis_url, stream_after_s=5.0)
    apps = [create_app({"SETTINGS": settings, "TESTING": True}) for _ in range(2)]  # two "replicas"
    results = []

    def visit(app):
        results.append(app.test_client().get("/song/808"))

    threads = [threading.Thread(target=visit, args=(apps[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [200] * 6
    assert all("I counted to 808" in r.get_data(as_text=True) for r in results)
    assert fakes.generator.calls == [808]


def test_song_page_has_share_and_opengraph_tags(client):
    html = client.get("/song/321").get_data(as_text=True)
    title, _ = fake_song(321)
    assert f'<meta property="og:title" content="{title}">' in html
    assert '<meta property="og:url" content="https://songs.example/song/321">' in html
    assert '<meta name="twitter:card" content="summary">' in html
    assert 'og:description" content="I counted to 321 in the rain / and every number sang / la la' in html
    assert "data-share" in html
    assert '<link rel="canonical" href="https://songs.example/song/321">' in html


def test_song_page_has_no_inline_script_or_style(client):
    html = client.get("/song/321").get_data(as_text=True)
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert "<script src=" in html


def test_make_random_redirects_and_is_never_cached(client, pooled_song, redis_client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/song/4242"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert SongPool(redis_client, RELEASE).uses_left(4242) == DEFAULT_USES_PER_SONG - 1, "one use spent"


def test_make_random_falls_back_to_a_fresh_id_when_the_pool_is_empty(client):
    response = client.get("/")
    assert response.status_code == 302
    assert re.fullmatch(r"/song/\d+\?fallback=random", response.headers["Location"])


def test_make_random_uses_the_shared_pool(fakes, redis_url, redis_client):
    """A pooled id is served as a clean URL."""
    from tests.support.web_fakes import make_settings
    from web.app import create_app
    SongPool(redis_client, RELEASE).add([2718])
    app = create_app({"SETTINGS": make_settings(fakes, redis_url), "TESTING": True})
    locations = {app.test_client().get("/").headers["Location"] for _ in range(8)}
    assert "/song/2718" in locations
    assert all(loc == "/song/2718" or loc.endswith("?fallback=random") for loc in locations)


def test_warming_generator_without_a_release_is_503_not_an_empty_release(client, fakes, redis_client):
    fakes.generator.release = ""
    response = client.get("/song/3")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert fakes.generator.calls == []
    assert not redis_client.keys("song::*")
    fakes.generator.release = "rel-test-1"
    state(client.application).release._fetched_at = float("-inf")
    assert client.get("/song/3").status_code == 200
