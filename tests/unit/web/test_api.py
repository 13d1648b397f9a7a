"""The JSON API, as the table in docs/architecture.md."""
from __future__ import annotations

import pytest


def test_song(client):
    response = client.get("/api/songs/12")
    assert response.status_code == 200
    assert response.get_json() == {"id": "12", "title": "Song of 12",
                                   "lyrics": "I counted to 12 in the rain\nand every number sang\n\nla la 5\n",
                                   "model_release": "rel-test-1"}
    assert "public" in response.headers["Cache-Control"]
    again = client.get("/api/songs/12", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/api/songs/x", "/api/songs/18446744073709551616", "/api/songs/007",
                                  "/api/songs/-3"])
def test_bad_song_ids(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "error" in response.get_json()


def test_failed_song_is_404(client, fakes):
    fakes.generator.failed_ids.add(9)
    response = client.get("/api/songs/9")
    assert response.status_code == 404 and response.get_json()["error"]


def test_generator_down_is_503_json(client, fakes):
    client.get("/api/songs/1")
    fakes.generator.down = True
    response = client.get("/api/songs/2")
    assert response.status_code == 503 and response.get_json()["error"] and response.headers["Retry-After"]


def test_random(client, pooled_song):
    response = client.get("/api/random")
    assert response.get_json() == {"id": "4242", "url": "https://songs.example/song/4242"}
    assert response.headers["Cache-Control"] == "private, no-store"


def test_session_signed_out(client):
    data = client.get("/api/session").get_json()
    assert data["user"] is None and data["csrf_token"]


def test_register_login_logout(client, auth):
    token = auth.api_token()
    response = client.post("/api/register", json={"username": "bob", "password": "longenough"},
                           headers={"X-CSRF-Token": token})
    assert response.status_code == 201 and response.get_json()["user"] == {"name": "bob"}
    taken = client.post("/api/register", json={"username": "BOB", "password": "longenough"},
                        headers={"X-CSRF-Token": auth.api_token()})
    assert taken.status_code == 409
    assert client.post("/api/logout", headers={"X-CSRF-Token": auth.api_token()}).status_code == 204
    assert client.get("/api/session").get_json()["user"] is None
    bad = client.post("/api/login", json={"username": "bob", "password": "wrongwrong"},
                      headers={"X-CSRF-Token": auth.api_token()})
    assert bad.status_code == 401 and bad.get_json()["error"]
    good = client.post("/api/login", json={"username": "bob", "password": "longenough"},
                       headers={"X-CSRF-Token": auth.api_token()})
    assert good.status_code == 200 and good.get_json()["user"] == {"name": "bob"}


@pytest.mark.parametrize("body", [None, "[]", '{"username": 1, "password": 2}', '{"username": "a"}', "not json"])
def test_register_bad_bodies_are_400(client, auth, body):
    response = client.post("/api/register", data=body, content_type="application/json",
                           headers={"X-CSRF-Token": auth.api_token()})
    assert response.status_code == 400 and "error" in response.get_json()


@pytest.mark.parametrize("method,path", [("post", "/api/register"), ("post", "/api/login"),
                                         ("post", "/api/logout"), ("put", "/api/songs/1/vote")])
def test_state_changes_need_the_csrf_header(client, method, path):
    response = getattr(client, method)(path, json={"username": "a", "password": "bbbbbbbb", "vote": "up"})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]


def test_votes_flow(client, auth):
    assert client.get("/api/songs/5/votes").get_json() == {"up": 0, "down": 0, "score": 0, "mine": None}
    signed_out = client.put("/api/songs/5/vote", json={"vote": "up"}, headers={"X-CSRF-Token": auth.api_token()})
    assert signed_out.status_code == 401
    client.post("/api/register", json={"username": "carol", "password": "longenough"},
                headers={"X-CSRF-Token": auth.api_token()})
    token = auth.api_token()
    up = client.put("/api/songs/5/vote", json={"vote": "up"}, headers={"X-CSRF-Token": token})
    assert up.status_code == 200 and up.get_json() == {"up": 1, "down": 0, "score": 1, "mine": "up"}
    down = client.put("/api/songs/5/vote", json={"vote": "down"}, headers={"X-CSRF-Token": token})
    assert down.get_json() == {"up": 0, "down": 1, "score": -1, "mine": "down"}
    assert client.get("/api/songs/5/votes").get_json()["mine"] == "down"
    assert client.get("/api/me/votes").get_json() == {"votes": [{"id": "5", "title": "Song of 5", "vote": "down"}]}
    top = client.get("/api/top?limit=10").get_json()
    assert top == {"songs": [{"id": "5", "title": "Song of 5", "up": 0, "down": 1, "score": -1}]}
    gone = client.put("/api/songs/5/vote", json={"vote": None}, headers={"X-CSRF-Token": token})
    assert gone.get_json()["mine"] is None
    assert client.put("/api/songs/5/vote", json={"vote": "maybe"}, headers={"X-CSRF-Token": token}).status_code == 400


def test_me_votes_signed_out_is_401(client):
    assert client.get("/api/me/votes").status_code == 401


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1"])
def test_top_limit_is_checked(client, limit):
    assert client.get(f"/api/top?limit={limit}").status_code == 400


def test_top_is_cacheable(client):
    response = client.get("/api/top")
    assert response.status_code == 200 and "max-age=300" in response.headers["Cache-Control"]
    assert "Set-Cookie" not in response.headers


def test_oversize_body_is_413(client, auth):
    response = client.post("/api/login", data="x" * 100_000, content_type="application/json",
                           headers={"X-CSRF-Token": auth.api_token()})
    assert response.status_code == 413


def test_api_login_rate_limited(client, auth):
    statuses = [client.post("/api/login", json={"username": "zed", "password": "wrongwrong"},
                            headers={"X-CSRF-Token": auth.api_token()}).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
