"""Fakes for the pregen tests: real gRPC servers (port 0, or a fixed port to
restart on) with small servicers that answer deterministically, and helpers
to run a worker in a thread. (A uniquely named module: test dirs have no
__init__.py, so a second "conftest" could not be imported by name.)"""
from __future__ import annotations

import threading
import time

import grpc
import redis
from prometheus_client import CollectorRegistry

from billionsongs.common.channels import make_channel
from billionsongs.common.grpcserver import create_server
from billionsongs.v1 import generator_pb2, generator_pb2_grpc, votes_pb2, votes_pb2_grpc
from pregen.clients import GeneratorClient, VotesClient
from pregen.settings import Settings
from pregen.worker import PregenMetrics, Worker


def is_failed(song_id: int) -> bool:
    """Which ids the fake generator reports as failed: about one in four."""
    return song_id % 4 == 0


class FakeGenerator(generator_pb2_grpc.GeneratorServicer):
    """Songs as a pure function of (release, id), some failed."""

    def __init__(self, release: str = "rel-1", max_songs: int = 8):
        self.release = release
        self.max_songs = max_songs
        self.requests: list[list[int]] = []
        self.lock = threading.Lock()
        # When set, GetSongs writes one song and then blocks until released.
        self.hold: threading.Event | None = None

    def GetModelInfo(self, request, context):
        return generator_pb2.ModelInfo(model_release=self.release, max_songs_per_request=self.max_songs)

    def GetSongs(self, request, context):
        ids = list(request.song_ids)
        if len(ids) > self.max_songs:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "too many ids")
        with self.lock:
            self.requests.append(ids)
        release = self.release
        for n, song_id in enumerate(ids):
            if self.hold is not None and n == 1:
                self.hold.wait(30)
                if not context.is_active():
                    return
            failed = is_failed(song_id)
            yield generator_pb2.Song(
                song_id=song_id, model_release=release, title=f"Song {song_id}",
                lyrics="" if failed else f"la la {song_id}", failed=failed,
                failure="no end of text" if failed else "")

    def generated(self) -> int:
        with self.lock:
            return sum(len(r) for r in self.requests)


class FakeVotes(votes_pb2_grpc.VotesServicer):
    def __init__(self, top: list[tuple[int, int]] | None = None):
        self.top = top or []

    def TopSongs(self, request, context):
        return votes_pb2.TopSongsResponse(songs=[
            votes_pb2.TopSong(song_id=i, score=s, up=max(s, 0), down=0) for i, s in self.top])


def start_generator(fake: FakeGenerator, address: str = "127.0.0.1:0"):
    server = create_server(address, [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(fake, s)],
                           ["billionsongs.v1.Generator"], max_workers=4)
    server.server.start()
    return server


def start_votes(fake: FakeVotes, address: str = "127.0.0.1:0"):
    server = create_server(address, [lambda s: votes_pb2_grpc.add_VotesServicer_to_server(fake, s)],
                           ["billionsongs.v1.Votes"], max_workers=2)
    server.server.start()
    return server


def wait_until(condition, timeout: float = 20.0, what: str = "condition"):
    """Poll ``condition`` until true; fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def metric(registry: CollectorRegistry, name: str, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


class RunningWorker:
    """A worker in a thread with its own clients, Redis connection and metrics."""

    def __init__(self, redis_url: str, generator_target: str, votes_target: str | None = None, **overrides):
        values = dict(pool_target_size=40, pool_uses=3, idle_s=0.02, backoff_min_s=0.02,
                      backoff_max_s=0.2, top_refresh_s=0.1, model_check_s=30.0,
                      rpc_timeout_s=2.0, generate_timeout_s=10.0)
        values.update(overrides)
        self.settings = Settings(generator_target=generator_target, redis_url=redis_url, **values)
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.channels = [make_channel(generator_target)]
        votes = None
        if votes_target:
            self.channels.append(make_channel(votes_target))
            votes = VotesClient(self.channels[1], 2.0)
        self.registry = CollectorRegistry()
        self.worker = Worker(self.settings, self.redis,
                             GeneratorClient(self.channels[0], 2.0, self.settings.generate_timeout_s),
                             votes, PregenMetrics(self.registry))
        self.errors: list[BaseException] = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.worker.run()
        except BaseException as error:  # the test asserts there were none
            self.errors.append(error)
            raise

    def start(self):
        self.thread.start()
        return self

    def metric(self, name: str, **labels) -> float:
        return metric(self.registry, name, **labels)

    def stop(self, timeout: float = 10.0):
        if self.stopped:
            return
        self.stopped = True
        self.worker.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"
        for channel in self.channels:
            channel.close()
        self.redis.close()
        assert not self.errors, self.errors
