"""The JSON API driven as docs/web.md tells a client to drive it: the CSRF token from
GET /api/session for register or login, then the fresh csrf_token from their answer
(signing in starts a new session; the earlier token is stale)."""
from __future__ import annotations

import re
from pathlib import Path

WEB_DOC = Path(__file__).resolve().parents[3] / "docs" / "web.md"


def readme_csrf_words() -> str:
    text = WEB_DOC.read_text(encoding="utf-8")
    match = re.search(r"^- Flask-WTF `CSRFProtect`.*?(?=^- )", text, re.S | re.M)
    assert match, "docs/web.md has no CSRF paragraph"
    return " ".join(match.group(0).split())


def test_the_web_doc_says_where_the_token_comes_from_after_signing_in():
    words = readme_csrf_words()
    assert "GET /api/session" in words
    assert "POST /api/register" in words and "/api/login" in words
    assert "`csrf_token` in that answer" in words
    assert "POST /api/logout" in words


def put_vote(client, song_id, vote, token):
    return client.put(f"/api/songs/{song_id}/vote", json={"vote": vote}, headers={"X-CSRF-Token": token})


def test_session_register_then_vote_with_the_fresh_token(client, fakes):
    session = client.get("/api/session")
    assert session.status_code == 200 and session.get_json()["user"] is None
    first = session.get_json()["csrf_token"]

    registered = client.post("/api/register", json={"username": "carol", "password": "correct horse"},
                             headers={"X-CSRF-Token": first})
    assert registered.status_code == 201 and registered.get_json()["user"] == {"name": "carol"}
    fresh = registered.get_json()["csrf_token"]
    assert fresh and fresh != first

    # What the docs once said (the token of GET /api/session) no longer works...
    stale = put_vote(client, 5, "up", first)
    assert stale.status_code == 400 and "CSRF" in stale.get_json()["error"]
    # ...what it says now does.
    voted = put_vote(client, 5, "up", fresh)
    assert voted.status_code == 200 and voted.get_json()["up"] == 1 and voted.get_json()["mine"] == "up"
    assert client.get("/api/me/votes").get_json()["votes"] == [{"id": "5", "title": "Song of 5", "vote": "up"}]
    assert client.get("/api/session").get_json()["user"] == {"name": "carol"}


def test_logout_session_login_then_vote_with_the_fresh_token(client, fakes):
    token = client.get("/api/session").get_json()["csrf_token"]
    token = client.post("/api/register", json={"username": "dave", "password": "correct horse"},
                        headers={"X-CSRF-Token": token}).get_json()["csrf_token"]
    assert client.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 204

    before_login = client.get("/api/session").get_json()["csrf_token"]
    logged_in = client.post("/api/login", json={"username": "dave", "password": "correct horse"},
                            headers={"X-CSRF-Token": before_login})
    assert logged_in.status_code == 200 and logged_in.get_json()["user"] == {"name": "dave"}
    fresh = logged_in.get_json()["csrf_token"]
    assert put_vote(client, 8, "down", before_login).status_code == 400
    voted = put_vote(client, 8, "down", fresh)
    assert voted.status_code == 200 and voted.get_json()["down"] == 1
    # the same token keeps working for the rest of the session
    assert put_vote(client, 8, None, fresh).get_json()["mine"] is None


def test_openapi_describes_the_fresh_token(client):
    spec = client.get("/api/openapi.json").get_json()
    csrf = next(p for p in spec["paths"]["/api/songs/{song_id}/vote"]["put"]["parameters"]
                if p["name"] == "X-CSRF-Token")
    assert "/api/register" in csrf["description"] and "/api/login" in csrf["description"]
    for path, code in (("/api/register", "201"), ("/api/login", "200")):
        response = spec["paths"][path]["post"]["responses"][code]
        assert "csrf_token" in response["content"]["application/json"]["schema"]["required"]
        assert "new session" in response["description"]
