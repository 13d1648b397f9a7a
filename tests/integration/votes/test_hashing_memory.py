"""Issue 27, item 2: a registration flood cannot take the votes service over its memory.

``python -m votes`` runs as its own process with production-sized argon2 hashes (64 MiB
each) and a hashing budget of two hashes; its resident memory is sampled with psutil
while many clients register at once, through the site (one address: 429s) and straight
at the service as many web replicas would (no rate limit helps: the budget must)."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billionsongs.common.channels import retry_after_s
from billionsongs.v1 import votes_pb2, votes_pb2_grpc
from devstack.servers import free_port
from tests.support.hostile import api_token, make_app

MIB = 1024 * 1024
HASH_MIB = 64
SLOTS = 2
FLOOD_THREADS = 16


class PeakRss:
    """The highest resident set size of ``pid`` seen while running, sampled in a thread."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.fixture
def votes_process(postgres_url, tmp_path):
    port = free_port()
    env = {"PATH": os.environ["PATH"], "VOTES_LISTEN": f"127.0.0.1:{port}", "DATABASE_URL": postgres_url,
           "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": str(HASH_MIB * 1024), "ARGON2_PARALLELISM": "1",
           "ARGON2_MEMORY_BUDGET_MIB": str(SLOTS * HASH_MIB), "VOTES_MAX_WORKERS": "32",
           "LOG_LEVEL": "WARNING"}
    log = (tmp_path / "votes.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "votes"], env=env, stdout=log, stderr=log)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=60)
        for status in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60):
            if status.status == health_pb2.HealthCheckResponse.SERVING:
                break
        stub = votes_pb2_grpc.VotesStub(channel)
        # One registration first: what the process holds after its first hash is its baseline.
        stub.Register(votes_pb2.RegisterRequest(username="warm-up", password="warm-up-1"), timeout=30)
        yield process, f"127.0.0.1:{port}", stub
    finally:
        channel.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _bound(baseline: int) -> int:
    # The slots' hashes, and one hash of slack for the allocator and gRPC buffers.
    return baseline + (SLOTS + 1) * HASH_MIB * MIB


def test_a_flood_of_registrations_stays_inside_the_hashing_budget(votes_process):
    process, _, stub = votes_process
    names = itertools.count()
    codes: list[str] = []
    hints: list[float | None] = []

    def register(_):
        try:
            stub.Register(votes_pb2.RegisterRequest(username=f"flood{next(names)}", password="flood-pw1"),
                          timeout=2.0)
            codes.append("OK")
        except grpc.RpcError as error:
            codes.append(error.code().name)
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                hints.append(retry_after_s(error))

    baseline = psutil.Process(process.pid).memory_info().rss
    with PeakRss(process.pid) as rss, ThreadPoolExecutor(FLOOD_THREADS) as pool:
        list(pool.map(register, range(FLOOD_THREADS * 4)))
    assert rss.peak <= _bound(baseline), (
        f"peak RSS {rss.peak / MIB:.0f} MiB, baseline {baseline / MIB:.0f} MiB: more than {SLOTS} hashes at once")
    assert "OK" in codes
    # Those that found every slot busy until their deadline were told so, with a retry
    # hint (or, when a slot freed just before it, ran out of time hashing).
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}, codes
    assert all(hint and hint > 0 for hint in hints), hints


def test_a_flood_through_the_site_gets_429s_and_the_service_stays_inside_its_budget(
        votes_process, redis_server, redis_url):
    process, target, _ = votes_process
    app = make_app(("127.0.0.1:1", target, ""), redis_server, registrations_per_minute=5)
    names = itertools.count()
    lock = threading.Lock()
    statuses: dict[str, list[int]] = {}

    def register(address: str):
        client = app.test_client()
        token = api_token(client)
        response = client.post("/api/register", json={"username": f"web{next(names)}", "password": "web-pw-12"},
                               headers={"X-CSRF-Token": token}, environ_base={"REMOTE_ADDR": address})
        if response.status_code in (429, 503):
            assert int(response.headers["Retry-After"]) >= 1
        with lock:
            statuses.setdefault(address, []).append(response.status_code)

    baseline = psutil.Process(process.pid).memory_info().rss
    one_client = ["10.1.0.1"] * 30
    many_clients = [f"10.2.0.{i}" for i in range(1, 41)]
    with PeakRss(process.pid) as rss, ThreadPoolExecutor(FLOOD_THREADS) as pool:
        list(pool.map(register, one_client + many_clients))
    assert rss.peak <= _bound(baseline), f"peak RSS {rss.peak / MIB:.0f} MiB, baseline {baseline / MIB:.0f} MiB"
    mine = statuses["10.1.0.1"]
    # One client: five registrations a minute reach the service, the rest are 429 at the site.
    assert mine.count(429) == 25 and len([s for s in mine if s != 429]) == 5, mine
    every = [s for codes in statuses.values() for s in codes]
    # Many clients: accounts made or "busy, retry" (503 with Retry-After): never a 500.
    assert set(every) <= {201, 429, 503}, every
    assert every.count(201) >= 1
