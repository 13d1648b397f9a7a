"""The web app against fake Generator/Votes gRPC servers (real servers on port 0)
and the real Redis of the session (never mocked)."""
from __future__ import annotations

import re

import pytest
import redis as redis_lib

from web.app import create_app
from web.config import WebSettings
from web_fakes import FakeBackends


@pytest.fixture(scope="session")
def backends():
    fakes = FakeBackends()
    yield fakes
    fakes.stop()


@pytest.fixture
def fakes(backends):
    """The shared fake servers, reset to a healthy state for each test."""
    backends.generator.__init__()
    backends.votes.__init__()
    return backends


def make_settings(fakes, redis_url, **overrides) -> WebSettings:
    values = dict(bind="127.0.0.1:0", workers=1, threads=4, generator_target=fakes.generator_target,
                  votes_target=fakes.votes_target, redis_url=redis_url, secret_key="test-secret",
                  session_cookie_secure=False, song_s_maxage=2592000, song_max_age=3600,
                  public_url="https://songs.example", proxy_hops=0, login_attempts_per_minute=5,
                  stream_after_s=1.0, generation_timeout_s=10.0, log_level="INFO", log_format="text")
    values.update(overrides)
    return WebSettings(**values)


@pytest.fixture
def redis_client(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    client.close()


class PickRecorder:
    """Stands in for billionsongs.common.pool.pick_random_song (owned by pregen)."""

    def __init__(self):
        self.next = [(4242, "pool")]
        self.calls = []

    def __call__(self, redis, release, rng):
        self.calls.append(release)
        return self.next.pop(0) if self.next else None


@pytest.fixture
def pick():
    return PickRecorder()


@pytest.fixture
def app(fakes, redis_url, pick):
    app = create_app({"SETTINGS": make_settings(fakes, redis_url), "TESTING": True, "PICK_RANDOM": pick})
    yield app
    app.extensions["billionsongs"]["clients"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


class AuthActions:
    def __init__(self, client):
        self.client = client

    def register(self, username="alice", password="correct horse"):
        token = csrf_from(self.client.get("/auth/register").get_data(as_text=True))
        return self.client.post("/auth/register", data={"username": username, "password": password,
                                                        "password2": password, "csrf_token": token})

    def login(self, username="alice", password="correct horse", next_url=""):
        token = csrf_from(self.client.get("/auth/login").get_data(as_text=True))
        return self.client.post("/auth/login", data={"username": username, "password": password,
                                                     "csrf_token": token, "next": next_url})

    def api_token(self) -> str:
        return self.client.get("/api/session").get_json()["csrf_token"]


@pytest.fixture
def auth(client):
    return AuthActions(client)
