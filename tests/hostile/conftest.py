"""The website in-process (Flask test client: thousands of hostile requests in
seconds) over real gRPC to the real votes service on real PostgreSQL, a fake
generator on a real gRPC server, and the session's real Redis."""
from __future__ import annotations

import secrets

import pytest

from billionsongs.common.grpcserver import create_server
from billionsongs.v1 import generator_pb2_grpc
from tests.support.hostile import FAILED_SONG, HostileGenerator, make_app
from web.state import state


@pytest.fixture(scope="session")
def hostile_backends(postgres_server):
    from votes.server import VotesApp
    from votes.settings import Settings
    generator = HostileGenerator()
    generator.failed_ids.add(FAILED_SONG)
    server = create_server("127.0.0.1:0",
                           [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(generator, s)],
                           ["billionsongs.v1.Generator"])
    server.server.start()
    server.set_serving(True)
    database_url = postgres_server.create_database(f"hostile_{secrets.token_hex(4)}")
    # argon2id with small costs: real hashes, quick tests
    votes = VotesApp(Settings.from_env({"VOTES_LISTEN": "127.0.0.1:0", "DATABASE_URL": database_url,
                                        "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "1024",
                                        "ARGON2_PARALLELISM": "1"}))
    votes.server.server.start()
    votes.prepare()
    votes.server.set_serving(True)
    yield f"127.0.0.1:{server.port}", f"127.0.0.1:{votes.server.port}", database_url
    votes.server.server.stop(None)
    votes.close()
    server.server.stop(None)


@pytest.fixture(scope="session")
def hostile_app(hostile_backends, redis_server):
    app = make_app(hostile_backends, redis_server)
    yield app
    state(app).clients.close()


@pytest.fixture
def client(hostile_app):
    return hostile_app.test_client()
