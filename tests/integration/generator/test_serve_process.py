"""`python -m generator serve` as make run and the containers start it: two
server processes (batched and per-request) give byte-identical songs, the
server process never loads torch, health turns SERVING once workers are warm,
reflection lists the service, SIGTERM stops it cleanly."""
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from billionsongs.v1 import generator_pb2, generator_pb2_grpc

ROOT = Path(__file__).resolve().parents[3]
IDS = [0, 1, 2**64 - 1, 424242]
RHYME_IDS = list(range(100, 108))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, model_dir, mode, **env_extra):
        self.port = free_port()
        env = {**os.environ,
               "GENERATOR_LISTEN": f"127.0.0.1:{self.port}", "MODEL_DIR": str(model_dir),
               "GENERATOR_DEVICE": "cpu", "GENERATOR_WORKER_MODE": mode, "GENERATOR_WORKERS": "1",
               "GENERATOR_MAX_NEW_TOKENS": "128", "GENERATOR_MAX_BATCH": "64", "GENERATOR_THREADS": "1",
               "GENERATOR_MAX_SONGS_PER_REQUEST": "100", "LOG_FORMAT": "text", **env_extra}
        self.process = subprocess.Popen([sys.executable, "-m", "generator", "serve"], env=env, cwd=ROOT)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = generator_pb2_grpc.GeneratorStub(self.channel)

    def wait_serving(self, timeout=180):
        health = health_pb2_grpc.HealthStub(self.channel)
        statuses = []
        # Watch streams every status change: no polling loop.
        for reply in health.Watch(health_pb2.HealthCheckRequest(service="billionsongs.v1.Generator"),
                                  timeout=timeout, wait_for_ready=True):
            statuses.append(reply.status)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return statuses
        raise AssertionError(statuses)

    def stop(self):
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def servers(generator_model_dir):
    started = {mode: ServerProcess(generator_model_dir, mode) for mode in ("batched", "per-request")}
    yield started
    for server in started.values():
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def mapped_libraries(pid):
    return Path(f"/proc/{pid}/maps").read_text()


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def as_tuple(song):
    return (song.song_id, song.title, song.lyrics, song.model_release, song.failed, song.failure,
            song.token_count)


@pytest.fixture(scope="module")
def llama_servers(generator_llama_dir):
    started = {mode: ServerProcess(generator_llama_dir, mode) for mode in ("batched", "per-request")}
    yield started
    for server in started.values():
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def rhyme_servers(generator_rhyme_dirs):
    """Rhyme-scheme decoding on: lines rewound in some rows and not in others."""
    started = {mode: ServerProcess(generator_rhyme_dirs["llama"], mode, GENERATOR_RHYME="on")
               for mode in ("batched", "per-request")}
    yield started
    for server in started.values():
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.mark.parametrize("family", ["gpt2", "llama", "llama-rhymes"])
def test_two_server_processes_in_both_modes_serve_identical_songs(request, family, generator_settings,
                                                                  generator_llama_dir, generator_rhyme_dirs):
    servers = request.getfixturevalue({"gpt2": "servers", "llama": "llama_servers",
                                       "llama-rhymes": "rhyme_servers"}[family])
    for server in servers.values():
        statuses = server.wait_serving()
        assert statuses[-1] == health_pb2.HealthCheckResponse.SERVING
    from dataclasses import replace

    from generator.runtime import load_runtime
    from generator.songs import assemble

    if family == "llama":
        generator_settings = replace(generator_settings, model_dir=str(generator_llama_dir))
    if family == "llama-rhymes":
        generator_settings = replace(generator_settings, model_dir=str(generator_rhyme_dirs["llama"]), rhyme=True)
    runtime = load_runtime(generator_settings)
    expected, rewinds = {}, []
    for song_id in IDS + RHYME_IDS * (family == "llama-rhymes"):
        f = runtime.engine.generate([song_id])[song_id]
        rewinds.append(f.rewinds)
        r = assemble(runtime.tokenizer, song_id, f.tokens, f.failed, 128, runtime.prefix)
        expected[song_id] = (r.song_id, r.title, r.lyrics, r.failed, r.failure, len(f.tokens))
    ids = list(expected)
    if family == "llama-rhymes":
        assert any(rewinds) and not all(rewinds)  # some rows rewind, others do not
    releases = set()
    for mode, server in servers.items():
        single = {i: server.stub.GetSong(generator_pb2.GetSongRequest(song_id=i), timeout=120) for i in ids}
        batch = list(server.stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=ids[::-1]), timeout=180))
        assert {s.song_id: as_tuple(s) for s in batch} == {i: as_tuple(s) for i, s in single.items()}, mode
        for i, s in single.items():
            t = as_tuple(s)
            assert t[:3] + t[4:] == expected[i], (mode, i)
            releases.add(s.model_release)
    assert len(releases) == 1 and "" not in releases  # same release id from both processes
    if family == "llama":
        for server in servers.values():
            assert server.stop() == 0


def test_the_server_process_never_loads_torch_but_its_workers_do(servers):
    for mode, server in servers.items():
        server.wait_serving()
        assert "libtorch" not in mapped_libraries(server.process.pid), mode
        workers = [p for p in children(server.process.pid) if "libtorch" in mapped_libraries(p)]
        assert workers, mode  # the check can see torch where it is loaded


def test_reflection_lists_the_services(servers):
    server = servers["batched"]
    server.wait_serving()
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    reply = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                           timeout=10))
    names = {s.name for s in reply.list_services_response.service}
    assert {"billionsongs.v1.Generator", "grpc.health.v1.Health"} <= names


def test_sigterm_stops_server_and_workers(servers):
    for mode, server in servers.items():
        server.wait_serving()
        # Workers only: multiprocessing's resource tracker, also a child, exits on its own after.
        workers = [p for p in children(server.process.pid) if "libtorch" in mapped_libraries(p)]
        assert workers
        assert server.stop() == 0, mode
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
