"""The gRPC service over a real pool of worker processes (batched mode, one
worker), talked to over a real channel on a free port."""
import os
import signal
import subprocess
import sys
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billionsongs.v1 import generator_pb2, generator_pb2_grpc
from generator.messages import Done
from generator.release import describe_model
from generator.server import build_server
from generator.workers import WorkerPool


def make_reference(settings):
    """Songs generated in this process by the engine the workers run."""
    import torch

    from generator.runtime import load_runtime
    from generator.songs import assemble

    torch.set_num_threads(1)
    runtime = load_runtime(settings)
    cache = {}

    def song(song_id):
        if song_id not in cache:
            f = runtime.engine.generate([song_id])[song_id]
            cache[song_id] = Done(assemble(runtime.tokenizer, song_id, f.tokens, f.failed,
                                           settings.max_new_tokens, runtime.prefix), len(f.tokens))
        return cache[song_id]
    return song


def serve(settings):
    pool = WorkerPool(settings)
    server, service = build_server(settings, pool, describe_model(settings.model_dir))
    pool.start()
    server.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel)
    # Not warm yet: loading the model in a fresh process takes seconds.
    assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == \
        health_pb2.HealthCheckResponse.NOT_SERVING
    pool.wait_ready(timeout=120)
    server.set_serving(True)
    yield generator_pb2_grpc.GeneratorStub(channel), pool, service
    channel.close()
    server.server.stop(None)
    pool.stop()


@pytest.fixture(scope="module")
def reference(generator_settings):
    return make_reference(generator_settings)


@pytest.fixture(scope="module")
def served(generator_settings):
    yield from serve(generator_settings)


@pytest.fixture(scope="module")
def lyrics_settings(generator_settings, tmp_path_factory):
    """A model without title markers: its songs stream from the first token
    (a titled song streams once its title is settled, after the lyrics marker)."""
    import dataclasses

    from training.randommodel import make_random_model
    model = make_random_model(tmp_path_factory.mktemp("lyrics-only") / "m", n_layer=2, n_head=2, n_embd=64,
                              n_positions=256, vocab_size=512, end_bias=0.3, markers=False)
    return dataclasses.replace(generator_settings, model_dir=str(model))


@pytest.fixture(scope="module")
def lyrics_reference(lyrics_settings):
    return make_reference(lyrics_settings)


@pytest.fixture(scope="module")
def lyrics_served(lyrics_settings):
    yield from serve(lyrics_settings)


def same(song, ref):
    return (song.song_id, song.title, song.lyrics, song.failed, song.failure, song.token_count) == (
        ref.song.song_id, ref.song.title, ref.song.lyrics, ref.song.failed, ref.song.failure, ref.token_count)


def find_ended(reference, start=5000):
    """The first id from ``start`` whose song ends (is not failed)."""
    return next(i for i in range(start, start + 500) if not reference(i).song.failed)


def find_long(reference, start=5000, tokens=96):
    """The first id from ``start`` whose song takes at least ``tokens`` steps
    (failed at the limit or not: the song rules end most songs short of it)."""
    return next(i for i in range(start, start + 500) if reference(i).token_count >= tokens)


def test_songs_match_the_engine_alone_and_in_batches(served, reference):
    stub, _, service = served
    for song_id in (0, 1, 2**64 - 1):
        song = stub.GetSong(generator_pb2.GetSongRequest(song_id=song_id), timeout=60)
        assert same(song, reference(song_id)) and song.model_release == service.release
    ids = list(range(300, 364))[::-1]
    songs = list(stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=ids), timeout=120))
    assert sorted(s.song_id for s in songs) == sorted(ids)
    assert all(same(s, reference(s.song_id)) for s in songs)
    assert any(s.failed for s in songs) and any(not s.failed for s in songs)


def test_get_songs_answers_duplicates_and_refuses_too_many(served, reference):
    stub, _, _ = served
    songs = list(stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=[7, 8, 7]), timeout=60))
    assert sorted(s.song_id for s in songs) == [7, 7, 8]
    assert list(stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=[]), timeout=10)) == []
    with pytest.raises(grpc.RpcError) as err:
        list(stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=list(range(101))), timeout=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_concurrent_requests_for_one_id_generate_it_once(served, reference):
    stub, pool, _ = served
    song_id = find_long(reference, start=7000)  # long: the requests overlap
    before = pool.dispatched
    results = [None] * 8

    def call(n):
        results[n] = stub.GetSong(generator_pb2.GetSongRequest(song_id=song_id), timeout=60)
    # Freeze the workers until all 8 requests wait for the song, so the
    # requests overlap however slowly the threads start on a loaded machine.
    pids = [w.process.pid for w in pool.workers]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        assert pool.wait_until(
            lambda: song_id in pool.flights and len(pool.flights[song_id].subscribers) == 8, 30)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for t in threads:
        t.join()
    assert all(same(r, reference(song_id)) for r in results)
    assert pool.dispatched - before == 1


def test_stream_song_sends_pieces_then_the_song(served, reference):
    stub, _, _ = served
    song_id = find_ended(reference, start=100)
    while len(reference(song_id).song.lyrics) < 20:
        song_id = find_ended(reference, start=song_id + 1)
    events = list(stub.StreamSong(generator_pb2.GetSongRequest(song_id=song_id), timeout=60))
    pieces, last = events[:-1], events[-1]
    assert last.WhichOneof("event") == "song" and same(last.song, reference(song_id))
    assert pieces and all(e.WhichOneof("event") == "piece" for e in pieces)
    written = ("".join(e.piece.title for e in pieces), "".join(e.piece.lyrics for e in pieces))
    # The stream adds up to the finished song (one parser for both).
    assert written == (reference(song_id).song.title, reference(song_id).song.lyrics) and written[1]


def test_deadline_exceeded_stops_the_song(served, reference):
    stub, pool, _ = served
    song_id = find_long(reference, start=9000)
    before = pool.cancelled
    with pytest.raises(grpc.RpcError) as err:
        stub.GetSong(generator_pb2.GetSongRequest(song_id=song_id), timeout=0.05)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert pool.wait_until(lambda: pool.cancelled > before and song_id not in pool.flights, 10)


def test_cancelled_stream_stops_the_song(lyrics_served, lyrics_reference):
    stub, pool, _ = lyrics_served
    song_id = find_long(lyrics_reference, start=11000)
    before = pool.cancelled
    call = stub.StreamSong(generator_pb2.GetSongRequest(song_id=song_id), timeout=60)
    next(call)  # the song is being written
    call.cancel()
    assert pool.wait_until(lambda: pool.cancelled > before and song_id not in pool.flights, 10)


def test_worker_killed_mid_song_is_replaced_and_the_song_still_answered(lyrics_served, lyrics_reference):
    stub, pool, _ = lyrics_served
    reference = lyrics_reference
    song_id = find_long(reference, start=13000)
    before = pool.dispatched
    (victim,) = pool.worker_pids()
    call = stub.StreamSong(generator_pb2.GetSongRequest(song_id=song_id), timeout=120)
    first = next(call)
    assert first.WhichOneof("event") == "piece"
    os.kill(victim, signal.SIGSTOP)  # freeze it mid-song, then kill it
    os.kill(victim, signal.SIGKILL)
    events = [first] + list(call)
    assert same(events[-1].song, reference(song_id))
    assert pool.dispatched - before == 2  # retried once, on the new worker
    written = ("".join(e.piece.title for e in events[:-1]), "".join(e.piece.lyrics for e in events[:-1]))
    # Every piece once, none twice after the retry: the finished song exactly.
    assert written == (reference(song_id).song.title, reference(song_id).song.lyrics)
    assert pool.wait_until(lambda: pool.worker_pids() and victim not in pool.worker_pids(), 60)


def test_model_info(served, generator_settings):
    stub, _, service = served
    info = stub.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=10)
    assert info.model_release == service.release and len(info.model_release) == 16
    assert (info.device, info.dtype, info.max_new_tokens, info.top_k, info.max_batch_size,
            info.max_songs_per_request, info.worker_mode, info.writes_titles) == (
        "cpu", "float32", 128, 40, 64, 100, "batched", True)


def test_the_server_modules_do_not_import_torch():
    code = ("import sys, generator.__main__, generator.server, generator.workers, generator.worker;"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)  # the installed packages, as in the image


def test_metrics_count_songs_and_tokens(served):
    from prometheus_client import REGISTRY

    stub, pool, _ = served
    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0
    songs, tokens = value("generator_songs_total", outcome="ok") + value("generator_songs_total", outcome="failed"), \
        value("generator_tokens_total")
    song = stub.GetSong(generator_pb2.GetSongRequest(song_id=31337), timeout=60)
    assert value("generator_songs_total", outcome="ok") + value("generator_songs_total", outcome="failed") == songs + 1
    assert value("generator_tokens_total") == tokens + song.token_count
    # The worker reports when it goes idle: nothing queued, no rows busy.
    assert pool.wait_until(lambda: value("generator_batch_fill") == 0.0 and value("generator_queue_depth") == 0.0, 10)
    # Rates are rate() of a counter in Prometheus, never a gauge of their own.
    assert REGISTRY.get_sample_value("generator_tokens_per_second") is None


def test_model_info_is_unavailable_while_no_worker_is_warm(generator_settings):
    """Before a worker is warm the release is unknown; callers must get
    UNAVAILABLE (and back off), never an empty release to key caches by."""
    from types import SimpleNamespace

    from generator.server import GeneratorService

    class Aborted(Exception):
        pass

    class Context:
        def abort(self, code, message):
            self.code = code
            raise Aborted(message)

    service = GeneratorService(generator_settings, SimpleNamespace(device=None), model=None)
    context = Context()
    with pytest.raises(Aborted, match="warming up"):
        service.GetModelInfo(generator_pb2.GetModelInfoRequest(), context)
    assert context.code == grpc.StatusCode.UNAVAILABLE
