"""Issue 27, item 7: sessions can be revoked. A stolen or replayed session cookie stops
working when its owner signs out, changes the password or deletes the account, on
every device; the account pages work as plain forms (no JavaScript). Real votes
service on real PostgreSQL."""
from __future__ import annotations

import psycopg

from tests.support.hostile import api_token, new_name, register
from tests.support.web_fakes import csrf_from

PASSWORD = "a fine password"


def replay(app, cookie: str):
    """A second browser holding a copy of ``cookie`` (what a thief or a replay would have)."""
    client = app.test_client()
    client.set_cookie("bs_session", cookie)
    return client


def cookie_of(client) -> str:
    return client.get_cookie("bs_session").value


def vote(client, token: str, song: int = 42):
    return client.put(f"/api/songs/{song}/vote", json={"vote": "up"}, headers={"X-CSRF-Token": token})


def sign_in(app, name: str, password: str = PASSWORD):
    client = app.test_client()
    response = client.post("/api/login", json={"username": name, "password": password},
                           headers={"X-CSRF-Token": api_token(client)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client, response.get_json()["csrf_token"]


def test_after_sign_out_a_replayed_cookie_no_longer_votes_on_any_device(hostile_app):
    client = hostile_app.test_client()
    name = register(client, password=PASSWORD)
    token = api_token(client)
    stolen = cookie_of(client)
    laptop, laptop_token = sign_in(hostile_app, name)
    assert vote(replay(hostile_app, stolen), token).status_code == 200  # valid until now
    assert client.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 204
    thief = replay(hostile_app, stolen)
    assert vote(thief, token).status_code == 401
    assert thief.get("/api/session").get_json()["user"] is None
    # Sign-out ends every session of the account: the laptop's too.
    assert vote(laptop, laptop_token).status_code == 401
    # The ended session's cookie is replaced: the replaying browser is a plain visitor now.
    assert thief.get_cookie("bs_session") is None or cookie_of(thief) != stolen
    # Signing in again works and starts afresh.
    again, again_token = sign_in(hostile_app, name)
    assert vote(again, again_token).status_code == 200
    assert vote(replay(hostile_app, stolen), token).status_code == 401


def change_password_form(client, old: str, new: str, again: str | None = None):
    page = client.get("/account/password")
    assert page.status_code == 200
    return client.post("/account/password", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "old_password": old, "new_password": new,
        "new_password2": new if again is None else again})


def test_a_password_change_through_the_page_ends_every_other_session(hostile_app):
    client = hostile_app.test_client()
    name = register(client, password=PASSWORD)
    stolen, token = cookie_of(client), api_token(client)
    phone, phone_token = sign_in(hostile_app, name)
    assert change_password_form(client, "not it at all", "another fine one").status_code == 401
    assert change_password_form(client, PASSWORD, "another fine one", "a typo here").status_code == 400
    changed = change_password_form(client, PASSWORD, "another fine one")
    assert changed.status_code == 303 and changed.headers["Location"] == "/account?done=password"
    assert "signed out" in client.get("/account?done=password").get_data(as_text=True)
    assert vote(replay(hostile_app, stolen), token).status_code == 401
    assert vote(phone, phone_token).status_code == 401
    # This browser goes on, under a fresh session and token.
    assert client.get("/api/session").get_json()["user"] == {"name": name}
    assert vote(client, api_token(client)).status_code == 200
    assert sign_in(hostile_app, name, "another fine one")[0].get("/api/session").get_json()["user"]["name"] == name


def test_a_deleted_account_s_old_cookie_is_a_signed_out_visitor(hostile_app, hostile_backends):
    client = hostile_app.test_client()
    name = register(client, password=PASSWORD)
    stolen, token = cookie_of(client), api_token(client)
    page = client.get("/account/delete")
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "password": PASSWORD}
    # Without the tick, or with a wrong password, nothing happens.
    assert client.post("/account/delete", data=form).status_code == 400
    assert client.post("/account/delete", data={**form, "password": "wrong one", "confirm": "y"}).status_code == 401
    deleted = client.post("/account/delete", data={**form, "confirm": "y"})
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/"
    with psycopg.connect(hostile_backends[2]) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE username = %s", (name,)).fetchone()[0] == 0
    thief = replay(hostile_app, stolen)
    assert vote(thief, token).status_code == 401   # signed out, not 404
    assert thief.get("/api/me/votes").status_code == 401
    assert thief.get("/api/session").get_json()["user"] is None
    assert thief.get("/my/votes").status_code == 302  # to the sign-in page
    assert "Sign in to vote" in replay(hostile_app, stolen).get("/song/42/vote").get_data(as_text=True)
    assert client.get("/api/session").get_json()["user"] is None


def test_account_pages_need_a_session_and_a_csrf_token(hostile_app):
    visitor = hostile_app.test_client()
    for url in ("/account", "/account/password", "/account/delete"):
        assert visitor.get(url).status_code == 302
    client = hostile_app.test_client()
    register(client, name=new_name("csrf"), password=PASSWORD)
    assert client.post("/account/delete", data={"password": PASSWORD, "confirm": "y"}).status_code == 400
    assert client.post("/account/password", data={"old_password": PASSWORD, "new_password": "x" * 12,
                                                  "new_password2": "x" * 12}).status_code == 400
    assert client.get("/api/session").get_json()["user"] is not None
