"""The web app against fake Generator/Votes gRPC servers (real servers on port 0)
and the real Redis of the session (never mocked)."""
from __future__ import annotations

import pytest
import redis as redis_lib

from web.app import create_app
from web_fakes import AuthActions, FakeBackends, make_settings


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


@pytest.fixture
def auth(client):
    return AuthActions(client)
