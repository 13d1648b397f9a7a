"""Every number the site reads from a request is ASCII digits within its documented
range; anything else is a 400 (query) or 404 (path), never a 500. str.isdigit() says
yes to "²" and int() says no; int() says yes to "٣", "+5", " 5" and "1_0"."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from web.state import state

NOT_ASCII_NUMBERS = ["²", "٣", "１０", "+5", "-5", " 5", "5 ", "1_0", "10.0", "0x10", "1e2", "", "five", "\x00",
                     "9" * 5000]


@pytest.mark.parametrize("limit", NOT_ASCII_NUMBERS + ["0", "101", "00000000000000000000101"])
def test_top_limit_refuses_anything_but_ascii_digits_in_range(client, limit):
    response = client.get("/api/top?limit=" + quote(limit))
    assert response.status_code == 400, (limit, response.status_code)
    assert "limit" in response.get_json()["error"]


@pytest.mark.parametrize("limit, asked", [("1", 1), ("100", 100), ("010", 10)])
def test_top_limit_takes_ascii_digits(client, fakes, limit, asked, monkeypatch):
    seen = []
    clients = state(client.application).clients
    original = clients.top_songs
    monkeypatch.setattr(clients, "top_songs", lambda release, n: seen.append(n) or original(release, n))
    response = client.get("/api/top?limit=" + limit)
    assert response.status_code == 200 and seen == [asked]


def test_top_limit_superscript_two_is_400_not_500(client):
    assert client.get("/api/top?limit=%C2%B2").status_code == 400


@pytest.mark.parametrize("text", [t for t in NOT_ASCII_NUMBERS if t and "\x00" not in t] + ["18446744073709551616"])
@pytest.mark.parametrize("method, template", [
    ("GET", "/song/{}"), ("GET", "/song/{}/vote"), ("GET", "/api/songs/{}"), ("GET", "/api/songs/{}/votes"),
])
def test_song_ids_in_paths_are_ascii_digits_only(client, fakes, method, template, text):
    response = client.open(template.format(quote(text, safe="")), method=method)
    assert response.status_code == 404, (template, text, response.status_code)
    assert fakes.generator.calls == []


@pytest.mark.parametrize("text", ["²", "٣", "+5"])
def test_song_ids_in_vote_paths_are_ascii_digits_only(client, auth, fakes, text):
    auth.register()
    token = auth.api_token()
    response = client.put(f"/api/songs/{quote(text)}/vote", json={"vote": "up"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 404
    page = client.get("/song/5/vote").get_data(as_text=True)
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/song/{quote(text)}/vote", data={"vote": "up", "csrf_token": csrf})
    assert response.status_code == 404
    assert fakes.votes.votes == {}
