"""Nobody gets in: CSRF on every state-changing route, session cookie flags, the
sign-in rate limit, no user enumeration (by answer or by timing), framing rules,
security headers on every route, public pages identical for everyone and free of
cookies, argon2id hashes. Routes come from the app's own URL map, so a new route
is checked without anyone adding it here."""
from __future__ import annotations

import re
import statistics
import time

import psycopg
import pytest

from tests.support.hostile import MARKUP_SONG, api_token, make_app, new_name, register
from tests.support.web_fakes import csrf_from
from web.state import state

pytestmark = pytest.mark.timeout(240)
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE_ARGS = {"id_text": "42", "filename": "site.css"}


def routes(app, methods: set[str]):
    """(method, url, endpoint) of every rule of the app that takes one of ``methods``."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & methods):
            url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule)
            found.append((method, url, rule.endpoint))
    return found


def fetch(client, url: str, **kw):
    """GET, read the whole body and close the response (static files hold a file)."""
    response = client.get(url, **kw)
    response.get_data()
    response.close()
    return response


def signed_in_client(app):
    client = app.test_client()
    name = register(client)
    return client, name


# --- CSRF ---------------------------------------------------------------------

def test_every_state_changing_route_needs_a_csrf_token(hostile_app):
    mutating = routes(hostile_app, MUTATING)
    assert len(mutating) >= 8, mutating  # register, login, logout (page + API), votes (page + API)
    other_client, _ = signed_in_client(hostile_app)
    foreign_token = api_token(other_client)
    for method, url, _endpoint in mutating:
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": foreign_token}):
            client, name = signed_in_client(hostile_app)
            response = client.open(url, method=method, headers=headers,
                                   json={"username": new_name(), "password": "pw-abcdef", "vote": "up"})
            assert response.status_code in (400, 403), (method, url, headers, response.status_code)
            form = client.open(url, method=method, headers=headers,
                               data={"username": new_name(), "password": "pw-abcdef", "password2": "pw-abcdef",
                                     "vote": "up"})
            assert form.status_code in (400, 403), (method, url, headers, form.status_code)
            # nothing happened: still signed in as before, no vote on record
            assert client.get("/api/session").get_json()["user"] == {"name": name}, (method, url)
            assert client.get("/api/me/votes").get_json()["votes"] == [], (method, url)


def test_a_valid_token_is_what_lets_a_vote_through(hostile_app):
    client, _ = signed_in_client(hostile_app)
    assert client.put("/api/songs/42/vote", json={"vote": "up"},
                      headers={"X-CSRF-Token": api_token(client)}).status_code == 200
    widget = client.get("/song/42/vote").get_data(as_text=True)
    assert client.post("/song/42/vote", data={"vote": "down", "csrf_token": csrf_from(widget)}).status_code == 303


# --- cookies ------------------------------------------------------------------

def session_cookie_header(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("bs_session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_flags(hostile_backends, redis_server, secure):
    app = make_app(hostile_backends, redis_server, session_cookie_secure=secure)
    client = app.test_client()
    name = register(client)
    response = client.post("/api/login", json={"username": name, "password": "a fine password"},
                           headers={"X-CSRF-Token": api_token(client)})
    header = session_cookie_header(response)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert ("Secure" in header) is secure
    assert ("Strict-Transport-Security" in response.headers) is secure
    hint = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("bs_signed_in=")]
    assert hint and "SameSite=Lax" in hint[0] and ("Secure" in hint[0]) is secure
    state(app).clients.close()


# --- sign-in rate limit ---------------------------------------------------------

def test_sign_in_is_rate_limited_per_account_and_per_address(hostile_backends, redis_server):
    app = make_app(hostile_backends, redis_server, login_attempts_per_minute=5)
    client = app.test_client()
    name = register(client)
    token = api_token(client)

    def attempt(password: str, addr: str, username: str = name):
        return client.post("/api/login", json={"username": username, "password": password},
                           headers={"X-CSRF-Token": token}, environ_base={"REMOTE_ADDR": addr})

    assert [attempt("wrong-pass", f"10.0.0.{i}").status_code for i in range(5)] == [401] * 5
    limited = attempt("a fine password", "10.0.0.99")  # right password, new address: still refused
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # per address too: one address trying many names
    statuses = [attempt("wrong-pass", "10.9.9.9", new_name()).status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    token_form = csrf_from(client.get("/auth/login").get_data(as_text=True))
    page = client.post("/auth/login", data={"username": name, "password": "x-wrong", "csrf_token": token_form},
                       environ_base={"REMOTE_ADDR": "10.0.0.100"})
    assert page.status_code == 429 and "Retry-After" in page.headers
    state(app).clients.close()


# --- user enumeration -----------------------------------------------------------

def test_unknown_user_and_wrong_password_get_the_same_answer(hostile_app):
    client = hostile_app.test_client()
    name = register(client)
    token = api_token(client)
    unknown = client.post("/api/login", json={"username": new_name(), "password": "pw-abcdef"},
                          headers={"X-CSRF-Token": token})
    wrong = client.post("/api/login", json={"username": name, "password": "pw-abcdef"},
                        headers={"X-CSRF-Token": token})
    assert (unknown.status_code, unknown.get_json()) == (wrong.status_code, wrong.get_json()) == (
        401, {"error": "wrong user name or password"})

    def form_error(username):
        page = client.post("/auth/login", data={"username": username, "password": "pw-abcdef",
                                                "csrf_token": csrf_from(client.get("/auth/login").get_data(
                                                    as_text=True))})
        text = page.get_data(as_text=True).replace(username, "NAME")
        return page.status_code, re.sub(r'name="csrf_token" value="[^"]+"', "", text)

    assert form_error(new_name()) == form_error(name)


def test_no_user_enumeration_by_timing(hostile_backends, redis_server):
    """With costly hashes (as in production), an unknown name must cost a hash too:
    interleaved samples, medians within a factor of 1.5. A server that skipped the
    hash for unknown names answers them several times faster and fails this."""
    from votes.server import VotesApp
    from votes.settings import Settings
    votes = VotesApp(Settings.from_env({"VOTES_LISTEN": "127.0.0.1:0", "DATABASE_URL": hostile_backends[2],
                                        "ARGON2_TIME_COST": "2", "ARGON2_MEMORY_COST": "32768",
                                        "ARGON2_PARALLELISM": "1"}))
    votes.server.server.start()
    votes.prepare()
    votes.server.set_serving(True)
    try:
        app = make_app((hostile_backends[0], f"127.0.0.1:{votes.server.port}", hostile_backends[2]), redis_server)
        client = app.test_client()
        name = register(client)
        token = api_token(client)
        times = {"unknown": [], "wrong": []}
        for i in range(24):
            for kind in (("unknown", "wrong") if i % 2 else ("wrong", "unknown")):
                user = new_name() if kind == "unknown" else name
                started = time.perf_counter()
                status = client.post("/api/login", json={"username": user, "password": "pw-abcdef"},
                                     headers={"X-CSRF-Token": token}).status_code
                times[kind].append(time.perf_counter() - started)
                assert status == 401
        unknown, wrong = statistics.median(times["unknown"]), statistics.median(times["wrong"])
        assert wrong > 0.005, "hashes too cheap for this test to mean anything"
        assert 1 / 1.5 < unknown / wrong < 1.5, (unknown, wrong)
        state(app).clients.close()
    finally:
        votes.server.server.stop(None)
        votes.close()


# --- framing and headers --------------------------------------------------------

def every_get(app):
    return [(url, endpoint) for _, url, endpoint in routes(app, {"GET"})]


def check_headers(response, url):
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp, url
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (url, csp)
    assert "default-src 'self'" in csp and "object-src 'none'" in csp, (url, csp)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    assert response.headers.get("Referrer-Policy") in ("strict-origin-when-cross-origin", "no-referrer",
                                                       "same-origin", "strict-origin"), url


@pytest.mark.parametrize("signed_in", [False, True])
def test_security_headers_and_framing_on_every_route(hostile_app, signed_in):
    client = signed_in_client(hostile_app)[0] if signed_in else hostile_app.test_client()
    answers = [(url, endpoint, fetch(client, url)) for url, endpoint in every_get(hostile_app)]
    answers += [("/nowhere", "404", client.get("/nowhere")), ("/song/x", "404", client.get("/song/x")),
                ("/api/register", "400", client.post("/api/register", json={})),
                ("/api/login", "413", client.post("/api/login", data=b"x" * 20000))]
    for url, endpoint, response in answers:
        check_headers(response, url)
        csp = response.headers["Content-Security-Policy"]
        if endpoint == "songs.vote_widget":
            assert "frame-ancestors 'self'" in csp and response.headers["X-Frame-Options"] == "SAMEORIGIN"
        else:
            assert "frame-ancestors 'none'" in csp and response.headers["X-Frame-Options"] == "DENY", url
    assert {e for _, e, _ in answers} >= {"songs.vote_widget", "songs.song", "pages.top"}


# --- public pages ---------------------------------------------------------------

def test_public_pages_are_the_same_for_everyone_and_carry_no_cookie(hostile_app):
    visitor = hostile_app.test_client()
    member, name = signed_in_client(hostile_app)
    member.put(f"/api/songs/{MARKUP_SONG}/vote", json={"vote": "up"}, headers={"X-CSRF-Token": api_token(member)})
    member_token = api_token(member)
    public_endpoints = set()
    for url, endpoint in every_get(hostile_app):
        answers = [fetch(visitor, url), fetch(member, url)]
        if not any(a.cache_control.public for a in answers):
            assert all("private" in a.headers["Cache-Control"] or "no-store" in a.headers["Cache-Control"]
                       for a in answers), url
            continue
        public_endpoints.add(endpoint)
        for response in answers:
            assert response.cache_control.public, (url, "public for one visitor only")
            assert not response.headers.getlist("Set-Cookie"), (url, response.headers.getlist("Set-Cookie"))
            assert "Cookie" not in response.headers.get("Vary", ""), url
            body = response.get_data()  # bytes: /favicon.ico is public too
            assert name.encode() not in body and member_token.encode() not in body, url
        assert answers[0].get_data() == answers[1].get_data(), url
    for url in (f"/song/{MARKUP_SONG}", f"/api/songs/{MARKUP_SONG}", "/top", "/api/top"):
        response = member.get(url)
        assert response.cache_control.public and not response.headers.getlist("Set-Cookie"), url
        assert name not in response.get_data(as_text=True), url
    assert {"songs.song", "api.song", "pages.top", "api.top"} <= public_endpoints, public_endpoints


# --- stored passwords -----------------------------------------------------------

def test_every_stored_password_is_an_argon2id_hash(hostile_app, hostile_backends):
    register(hostile_app.test_client(), password="plain-text-canary-1")
    with psycopg.connect(hostile_backends[2]) as db:
        hashes = [row[0] for row in db.execute("SELECT password_hash FROM users")]
    assert hashes and all(re.fullmatch(r"\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", h)
                          for h in hashes), hashes[:3]
    assert not any("canary" in h for h in hashes)
