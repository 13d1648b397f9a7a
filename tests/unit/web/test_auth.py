"""Register, sign in, sign out, session cookies, rate limit, CSRF."""
from __future__ import annotations

import pytest

from tests.support.web_fakes import csrf_from


def test_register_signs_in_and_sets_a_safe_cookie(client, auth):
    response = auth.register()
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("bs_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert any(c.startswith("bs_signed_in=1") for c in cookies)
    assert client.get("/api/session").get_json()["user"] == {"name": "alice"}


def test_secure_cookies_behind_https(fakes, redis_url):
    from tests.support.web_fakes import make_settings
    from web.app import create_app
    app = create_app({"SETTINGS": make_settings(fakes, redis_url, session_cookie_secure=True), "TESTING": True})
    client = app.test_client()
    response = client.get("/auth/login", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"]


def test_register_taken_name_and_mismatch(client, auth):
    auth.register()
    client.post("/auth/logout", data={"csrf_token": csrf_from(client.get("/auth/logout").get_data(as_text=True))})
    assert auth.register().status_code == 409
    token = csrf_from(client.get("/auth/register").get_data(as_text=True))
    response = client.post("/auth/register", data={"username": "bob", "password": "longenough1",
                                                   "password2": "different1", "csrf_token": token})
    assert response.status_code == 400 and "do not match" in response.get_data(as_text=True)


def test_register_short_password_reason_from_votes(client, auth):
    response = auth.register(password="short")
    assert response.status_code == 400
    assert "at least 8" in response.get_data(as_text=True)


def test_login_goes_back_to_the_song(client, auth):
    auth.register()
    client.post("/auth/logout", data={"csrf_token": auth.api_token()})
    response = auth.login(next_url="/song/42")
    assert response.status_code == 303 and response.headers["Location"] == "/song/42"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(client, auth, next_url):
    auth.register()
    client.post("/auth/logout", data={"csrf_token": auth.api_token()})
    response = auth.login(next_url=next_url)
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_user_look_the_same(client, auth):
    auth.register()
    client.post("/auth/logout", data={"csrf_token": auth.api_token()})
    wrong = auth.login(password="wrong password")
    unknown = auth.login(username="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password." in wrong.get_data(as_text=True)
    assert "Wrong user name or password." in unknown.get_data(as_text=True)


def test_login_is_rate_limited(client, auth):
    auth.register()
    statuses = [auth.login(password="nope nope").status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    limited = auth.login()  # even the right password waits now
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_logout_needs_post_with_csrf(client, auth):
    auth.register()
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/api/session").get_json()["user"] == {"name": "alice"}
    token = csrf_from(client.get("/auth/logout").get_data(as_text=True))
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert client.get("/api/session").get_json()["user"] is None


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
def test_forms_without_csrf_are_refused(client, path):
    response = client.post(path, data={"username": "x", "password": "yyyyyyyy", "password2": "yyyyyyyy"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_login_limit_per_name_counts_every_spelling_of_the_name(client, auth):
    """The votes service takes "ａｌｉｃｅ" (full width, NFKC) and "ALICE" as alice, so the
    per-name limit must too; each attempt comes from its own address."""
    auth.register()
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    names = ["alice", "ALICE", "ａｌｉｃｅ", "ＡＬＩＣＥ", "Alice", "ａlice"]
    statuses = [client.post("/auth/login", data={"username": name, "password": "nope nope", "csrf_token": token},
                            environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code
                for i, name in enumerate(names)]
    assert statuses == [401] * 5 + [429]


def test_registration_is_rate_limited_per_address_on_the_form_and_the_api(fakes, redis_url):
    """Each registration costs the votes service a 64 MiB argon2 hash: one address gets
    REGISTRATIONS_PER_MINUTE tries, then 429 with Retry-After, on both routes; another
    address is not held back."""
    from tests.support.web_fakes import make_settings
    from web.app import create_app
    app = create_app({"SETTINGS": make_settings(fakes, redis_url, registrations_per_minute=3), "TESTING": True})

    def register_form(name: str):
        client = app.test_client()  # a fresh session each: signing in renews the CSRF token
        token = csrf_from(client.get("/auth/register").get_data(as_text=True))
        return client.post("/auth/register", data={"username": name, "password": "longenough1",
                                                   "password2": "longenough1", "csrf_token": token},
                           environ_base={"REMOTE_ADDR": "10.9.0.1"})

    assert [register_form(f"form{i}").status_code for i in range(3)] == [303] * 3
    client = app.test_client()
    token = client.get("/api/session").get_json()["csrf_token"]
    limited = client.post("/api/register", json={"username": "api0", "password": "longenough1"},
                          headers={"X-CSRF-Token": token}, environ_base={"REMOTE_ADDR": "10.9.0.1"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    page = register_form("form9")
    assert page.status_code == 429 and "Too many attempts" in page.get_data(as_text=True)
    other = client.post("/api/register", json={"username": "api1", "password": "longenough1"},
                        headers={"X-CSRF-Token": token}, environ_base={"REMOTE_ADDR": "10.9.0.2"})
    assert other.status_code == 201
    assert {u for u in fakes.votes.users} >= {"form0", "form1", "form2", "api1"}
    assert "api0" not in fakes.votes.users and "form9" not in fakes.votes.users


def test_a_busy_votes_service_is_a_503_with_its_retry_hint_not_a_resting_songwriter(client, fakes):
    fakes.votes.busy_retry_s = 2.5
    token = client.get("/api/session").get_json()["csrf_token"]
    api = client.post("/api/register", json={"username": "busy1", "password": "longenough1"},
                      headers={"X-CSRF-Token": token})
    assert api.status_code == 503 and api.headers["Retry-After"] == "3"
    assert "busy" in api.get_json()["error"] and "songwriter" not in api.get_json()["error"]
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    page = client.post("/auth/login", data={"username": "busy1", "password": "longenough1", "csrf_token": token})
    assert page.status_code == 503 and "busy" in page.get_data(as_text=True)
