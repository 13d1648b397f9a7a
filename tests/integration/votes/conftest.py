"""A votes server on a free port over the test's own database, and a client."""
from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from billionsongs.v1 import votes_pb2, votes_pb2_grpc
from votes.server import VotesApp
from votes.settings import Settings

# Cheap hashes: the tests exercise the logic, not argon2's strength.
FAST_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "64", "ARGON2_PARALLELISM": "1"}


def make_settings(database_url: str, **extra: str) -> Settings:
    env = {"VOTES_LISTEN": "127.0.0.1:0", "DATABASE_URL": database_url, "VOTES_POOL_SIZE": "4",
           **FAST_ARGON2, **extra}
    return Settings.from_env(env)


@dataclass
class Running:
    app: VotesApp
    channel: grpc.Channel
    stub: votes_pb2_grpc.VotesStub
    target: str

    def register(self, name: str, password: str = "secret-1") -> votes_pb2.User:
        return self.stub.Register(votes_pb2.RegisterRequest(username=name, password=password), timeout=10).user

    def vote(self, user_id: int, song_id: int, vote, release: str = "r1", title: str = "", lyrics: str = ""):
        title = title or f"Song {song_id}"
        lyrics = lyrics or f"lyrics of {song_id}"
        return self.stub.CastVote(votes_pb2.CastVoteRequest(
            user_id=user_id, song_id=song_id, model_release=release, vote=vote, title=title, lyrics=lyrics),
            timeout=10).votes


def start(settings: Settings) -> Running:
    app = VotesApp(settings)
    app.server.server.start()
    app.prepare()
    app.server.set_serving(True)
    target = f"127.0.0.1:{app.server.port}"
    channel = grpc.insecure_channel(target)
    return Running(app, channel, votes_pb2_grpc.VotesStub(channel), target)


def stop(running: Running) -> None:
    running.channel.close()
    running.app.server.server.stop(None)
    running.app.close()


@pytest.fixture
def votes(postgres_url):
    running = start(make_settings(postgres_url))
    yield running
    stop(running)


@pytest.fixture
def votes_factory(postgres_url):
    """Start extra servers: ``votes_factory(database_url=None, **env)``;
    each is stopped at the end of the test."""
    started = []

    def factory(database_url: str | None = None, **env: str) -> Running:
        running = start(make_settings(database_url or postgres_url, **env))
        started.append(running)
        return running

    yield factory
    for running in started:
        stop(running)
