"""The web app against fake Generator/Votes gRPC servers (real servers on port 0)
and the real Redis of the session (never mocked)."""
from __future__ import annotations

import pytest
import redis as redis_lib

from tests.support.web_fakes import RELEASE, AuthActions, FakeBackends, make_settings
from web.app import create_app
from web.state import state


@pytest.fixture(scope="session")
def backends():
    fakes = FakeBackends()
    yield fakes
    fakes.stop()


@pytest.fixture
def fakes(backends):
    """The shared fake servers, reset to a healthy state for each test."""
    backends.generator.reset()
    backends.votes.reset()
    return backends


@pytest.fixture
def redis_client(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def pooled_song(redis_client):
    """Song 4242 in the real random pool of the fake generator's release, so Make
    Random (3 in 4 from the pool, else the empty top list, then the pool) picks it."""
    from billionsongs.common.songpool import SongPool
    SongPool(redis_client, RELEASE).add([4242])
    return 4242


@pytest.fixture
def app(fakes, redis_url):
    app = create_app({"SETTINGS": make_settings(fakes, redis_url), "TESTING": True})
    yield app
    state(app).clients.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(client):
    return AuthActions(client)
