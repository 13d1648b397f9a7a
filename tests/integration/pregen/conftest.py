"""Fixtures of the pregen tests."""
from __future__ import annotations

import pytest

from tests.support.pregen_fakes import FakeGenerator, RunningWorker, start_generator


@pytest.fixture
def fake_generator():
    fake = FakeGenerator()
    server = start_generator(fake)
    yield fake, f"127.0.0.1:{server.port}"
    server.server.stop(None)


@pytest.fixture
def workers():
    started: list[RunningWorker] = []

    def make(*args, **kwargs) -> RunningWorker:
        running = RunningWorker(*args, **kwargs).start()
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
