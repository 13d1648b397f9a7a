"""The website in-process (Flask test client: thousands of hostile requests in
seconds) over real gRPC to the real votes service on real PostgreSQL, a fake
generator on a real gRPC server, and the session's real Redis."""
from __future__ import annotations

import re
import secrets

import pytest

from billionsongs.common.grpcserver import create_server  # noqa: E402
from billionsongs.v1 import generator_pb2_grpc  # noqa: E402
from tests.support.web_fakes import FakeGenerator  # noqa: E402
from web.state import state

# Songs whose text is hostile: the pages must show it escaped.
MARKUP_SONG = 666
MARKUP_TITLE = '<script>alert("t")</script>'
MARKUP_LYRICS = "<img src=x onerror=alert(1)>\n' OR 1=1; DROP TABLE votes; --\n"
FAILED_SONG = 13
# A byte-level model can write any byte, NUL included, which PostgreSQL text refuses.
NUL_SONG = 7777


class HostileGenerator(FakeGenerator):
    def _song(self, song_id):
        song = super()._song(song_id)
        if song_id == MARKUP_SONG:
            song.title, song.lyrics = MARKUP_TITLE, MARKUP_LYRICS
        if song_id == NUL_SONG:
            song.title, song.lyrics = "nul\x00title", "a\x00b\n"
        return song


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


def make_app(hostile_backends, redis_server, **overrides):
    from web.app import create_app
    from web.settings import WebSettings
    generator_target, votes_target, _ = hostile_backends
    values = dict(bind="127.0.0.1:0", workers=1, threads=4, generator_target=generator_target,
                  votes_target=votes_target, redis_url=redis_server.url, secret_key=secrets.token_hex(16),
                  session_cookie_secure=False, song_s_maxage=2592000, song_max_age=3600, public_url="",
                  proxy_hops=0, login_attempts_per_minute=100000, stream_after_s=5.0, generation_timeout_s=10.0,
                  metrics_port=0, log_level="WARNING", log_format="text")
    values.update(overrides)
    return create_app({"SETTINGS": WebSettings(**values)})


@pytest.fixture(scope="session")
def hostile_app(hostile_backends, redis_server):
    app = make_app(hostile_backends, redis_server)
    yield app
    state(app).clients.close()


@pytest.fixture
def client(hostile_app):
    return hostile_app.test_client()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def api_token(client) -> str:
    return client.get("/api/session").get_json()["csrf_token"]


def new_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def register(client, name: str | None = None, password: str = "a fine password") -> str:
    name = name or new_name()
    response = client.post("/api/register", json={"username": name, "password": password},
                           headers={"X-CSRF-Token": api_token(client)})
    assert response.status_code == 201, response.get_data(as_text=True)
    return name
