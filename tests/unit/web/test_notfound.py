"""What is not a song is not called one: unknown addresses get a plain 404 page, and
/favicon.ico and /robots.txt, which browsers and crawlers ask every site for, exist."""
from __future__ import annotations

import struct

import pytest


@pytest.mark.parametrize("path", ["/nope", "/songs", "/song", "/wp-login.php", "/top/extra", "/static/nope.css",
                                  "/favicon.png", "/robots.txt/x"])
def test_unknown_paths_get_a_generic_404_page(client, path):
    response = client.get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html
    assert "No such song" not in html and "18446744073709551615" not in html
    assert response.headers["Cache-Control"] == "private, no-store"


def test_unknown_api_paths_get_a_generic_json_404(client):
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert "song" not in response.get_json()["error"].lower()


@pytest.mark.parametrize("path", ["/song/x", "/song/18446744073709551616", "/song/x/vote"])
def test_bad_song_ids_still_say_no_such_song(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "No such song" in response.get_data(as_text=True)


def test_failed_song_says_no_such_song(client, fakes):
    fakes.generator.failed_ids.add(13)
    response = client.get("/song/13")
    assert response.status_code == 404 and "No such song" in response.get_data(as_text=True)
    api = client.get("/api/songs/13")
    assert api.status_code == 404 and "no song" in api.get_json()["error"].lower()


def test_robots_txt(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    lines = text.splitlines()
    assert lines[0] == "User-agent: *"
    assert {"Disallow: /api/", "Disallow: /auth/", "Disallow: /my/", "Disallow: /song/*/vote"} <= set(lines)
    assert "Disallow: /" not in lines  # songs stay crawlable
    cache = response.headers["Cache-Control"]
    assert "public" in cache and "max-age=86400" in cache
    assert "Set-Cookie" not in response.headers


def test_favicon_ico_is_a_real_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    data = response.get_data()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1) and count >= 1
    sizes = set()
    for i in range(count):
        width, _, _, _, _, _, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i:22 + 16 * i])
        assert data[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + length <= len(data)
        sizes.add(width or 256)
    assert {16, 32} <= sizes
    cache = response.headers["Cache-Control"]
    assert "public" in cache and "max-age=86400" in cache
    assert "Set-Cookie" not in response.headers


def test_favicon_ico_matches_its_generator(client):
    import importlib.util
    from pathlib import Path
    tool = Path(__file__).resolve().parents[3] / "tools" / "make_favicon.py"
    spec = importlib.util.spec_from_file_location("make_favicon", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert client.get("/favicon.ico").get_data() == module.ico()
