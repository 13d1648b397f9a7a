"""Issue 27, item 4: health and model info answer under any number of slow song calls,
and song calls beyond the server's slots are refused at once with a retry hint.

The real generator gRPC server (build_server) over a worker pool that never finishes a
song (as when the worker is stalled), talked to over a real channel."""
from __future__ import annotations

import dataclasses
import queue
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billionsongs.common.channels import retry_after_s
from billionsongs.v1 import generator_pb2, generator_pb2_grpc
from generator.messages import Cancelled
from generator.release import describe_model
from generator.server import build_server
from generator.workers import Subscription

IN_FLIGHT = 70  # the figure: 70 StreamSong calls made health time out


class StalledPool:
    """Takes every subscription and never answers it: each song call holds its handler
    thread until its deadline or its cancellation."""

    device = "cpu"

    def __init__(self):
        self.subscribed = 0
        self.lock = threading.Lock()

    def subscribe(self, song_ids, stream=False, urgent=False) -> Subscription:
        with self.lock:
            self.subscribed += 1
        return Subscription(tuple(song_ids), stream, queue.SimpleQueue())

    def unsubscribe(self, sub) -> None:
        with self.lock:
            self.subscribed -= 1
        sub.events.put(Cancelled())  # as the real pool does: wakes the waiting handler


def wait_for(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def stalled(generator_settings):
    settings = dataclasses.replace(generator_settings, max_calls=64)
    pool = StalledPool()
    server, _ = build_server(settings, pool, describe_model(settings.model_dir), "127.0.0.1:0")
    server.server.start()
    server.set_serving(True)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield pool, channel
    channel.close()
    server.server.stop(None)


def test_health_and_model_info_answer_while_70_streams_wait_and_the_excess_is_refused(stalled):
    pool, channel = stalled
    stub = generator_pb2_grpc.GeneratorStub(channel)
    calls = [stub.StreamSong(generator_pb2.GetSongRequest(song_id=i), timeout=60) for i in range(IN_FLIGHT)]
    try:
        # Every slot is taken by a stream that waits for its song.
        wait_for(lambda: pool.subscribed == 64)
        # The rest ended at once, not queued behind them.
        wait_for(lambda: sum(call.done() for call in calls) == IN_FLIGHT - 64)
        refused = [call for call in calls if call.done()]
        assert {call.code() for call in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert all(retry_after_s(call) == 2.0 for call in refused)
        assert pool.subscribed == 64  # the refused ones never reached the pool
        # The liveness probe and the web's release check, each within its own deadline.
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(20):
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            assert stub.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=5).model_release
    finally:
        for call in calls:
            call.cancel()
    # A slot freed is a slot taken again.
    wait_for(lambda: pool.subscribed == 0)
    again = stub.StreamSong(generator_pb2.GetSongRequest(song_id=1), timeout=60)
    wait_for(lambda: pool.subscribed == 1)
    again.cancel()
