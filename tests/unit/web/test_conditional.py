"""Conditional requests on every cacheable route follow RFC 9110 §13.1.2: If-None-Match
uses the weak comparison (CDNs and compressing proxies send W/"…"), takes a list of
tags, and "*" matches whatever exists."""
from __future__ import annotations

import pytest

# Every public (cacheable) GET route of the site, HTML pages and JSON API.
CACHEABLE = ["/song/5", "/api/songs/5", "/top", "/api/top", "/privacy", "/api/openapi.json",
             "/robots.txt", "/favicon.ico"]


def weak(etag: str) -> str:
    return etag if etag.startswith("W/") else "W/" + etag


@pytest.mark.parametrize("path", CACHEABLE)
def test_cacheable_routes_have_an_etag_and_honour_it(client, path):
    first = client.get(path)
    assert first.status_code == 200 and "public" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag and "public" in again.headers["Cache-Control"]


@pytest.mark.parametrize("path", CACHEABLE)
def test_weak_validator_matches(client, path):
    etag = client.get(path).headers["ETag"]
    response = client.get(path, headers={"If-None-Match": weak(etag)})
    assert response.status_code == 304, response.status_code
    assert response.get_data() == b""


@pytest.mark.parametrize("path", CACHEABLE)
def test_list_of_tags_matches_when_any_does(client, path):
    etag = client.get(path).headers["ETag"]
    response = client.get(path, headers={"If-None-Match": f'"nope", W/"other", {weak(etag)}'})
    assert response.status_code == 304


@pytest.mark.parametrize("path", CACHEABLE)
def test_star_matches_an_existing_resource(client, path):
    client.get(path)
    assert client.get(path, headers={"If-None-Match": "*"}).status_code == 304


@pytest.mark.parametrize("path", CACHEABLE)
def test_other_tags_get_the_full_answer(client, path):
    full = client.get(path)
    response = client.get(path, headers={"If-None-Match": '"nope", W/"other"'})
    assert response.status_code == 200 and response.get_data() == full.get_data()


def test_weak_tag_on_song_page_is_answered_before_any_lookup(client, fakes):
    etag = client.get("/song/5").headers["ETag"]
    calls = list(fakes.generator.calls)
    fakes.generator.down = True  # a 304 must not need the generator or the song cache
    response = client.get("/song/5", headers={"If-None-Match": weak(etag)})
    assert response.status_code == 304
    assert fakes.generator.calls == calls


def test_star_does_not_match_a_failed_song(client, fakes):
    fakes.generator.failed_ids.add(9)
    assert client.get("/song/9", headers={"If-None-Match": "*"}).status_code == 404
    assert client.get("/api/songs/9", headers={"If-None-Match": "*"}).status_code == 404


def test_private_answers_stay_unconditional(client):
    response = client.get("/api/session", headers={"If-None-Match": "*"})
    assert response.status_code == 200 and "ETag" not in response.headers
