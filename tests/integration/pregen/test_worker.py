"""The pregeneration worker against a real Redis and fake gRPC servers."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from billionsongs.common.songcache import SongCache
from billionsongs.common.songpool import SongPool, TopSongs, pool_key
from billionsongs.common.songs import Song
from devstack.servers import ValkeyServer, free_port
from tests.support.pregen_fakes import FakeGenerator, FakeVotes, is_failed, start_generator, start_votes, wait_until

ROOT = Path(__file__).resolve().parents[3]


def pooled_ids(client, release) -> set[int]:
    return {int(i) for i in client.smembers(pool_key(release))}


def test_fills_to_target_caches_every_song_and_pools_only_good_ones(redis_url, fake_generator, workers):
    fake, target = fake_generator
    w = workers(redis_url, target, pool_target_size=40)
    wait_until(lambda: w.metric("pregen_idle_checks_total") >= 2, what="the pool to fill")
    client = redis.Redis.from_url(redis_url)
    pooled = pooled_ids(client, "rel-1")
    assert len(pooled) == 40
    assert not any(is_failed(i) for i in pooled), "failed songs must never be pooled"
    assert all(len(r) <= fake.max_songs for r in fake.requests), "batches above the generator's limit"
    cache = SongCache(client)
    requested = [i for r in fake.requests for i in r]
    songs = cache.get_many("rel-1", requested)
    assert all(s is not None for s in songs), "every generated song is cached"
    assert {s.song_id for s in songs if s.failed} == {i for i in requested if is_failed(i)}
    assert all(SongPool(client, "rel-1").uses_left(i) == 3 for i in pooled)
    assert w.metric("pregen_pool_size") == 40
    assert w.metric("pregen_songs_generated_total", result="failed") == sum(map(is_failed, requested))
    # Full: it idles instead of generating more.
    calls = len(fake.requests)
    idle = w.metric("pregen_idle_checks_total")
    wait_until(lambda: w.metric("pregen_idle_checks_total") >= idle + 5, what="more idle checks")
    assert len(fake.requests) == calls
    client.close()


def test_refills_what_the_website_spends(redis_url, fake_generator, workers):
    fake, target = fake_generator
    w = workers(redis_url, target, pool_target_size=20, pool_uses=1)
    client = redis.Redis.from_url(redis_url)
    pool = SongPool(client, "rel-1")
    wait_until(lambda: pool.size() == 20, what="the pool to fill")
    spent = {pool.take() for _ in range(10)}
    assert len(spent) == 10 and not spent & pooled_ids(client, "rel-1")
    wait_until(lambda: pool.size() == 20 and w.metric("pregen_pool_size") == 20, what="a refill")
    assert len(pooled_ids(client, "rel-1")) == 20
    client.close()


def test_seeds_the_pool_from_the_cache_before_generating(redis_url, fake_generator, workers):
    fake, target = fake_generator
    client = redis.Redis.from_url(redis_url)
    cache = SongCache(client)
    good = [Song(i, "rel-1", f"t{i}", "l") for i in range(1000, 1030)]
    failed = [Song(i, "rel-1", "", "", failed=True) for i in range(2000, 2010)]
    other_release = [Song(i, "rel-0", "t", "l") for i in range(3000, 3010)]
    cache.put_many(good + failed + other_release)
    w = workers(redis_url, target, pool_target_size=30)
    wait_until(lambda: w.metric("pregen_idle_checks_total") >= 1, what="the pool to fill")
    assert pooled_ids(client, "rel-1") == {s.song_id for s in good}
    assert fake.requests == [], "a pool filled from the cache needs no generation"
    assert w.metric("pregen_songs_pooled_total", source="cache") == 30
    client.close()


def test_two_workers_never_overfill_and_lose_no_ids(redis_url, fake_generator, workers):
    fake, target = fake_generator
    a = workers(redis_url, target, pool_target_size=120, pool_uses=2)
    b = workers(redis_url, target, pool_target_size=120, pool_uses=2)
    for w in (a, b):
        wait_until(lambda: w.metric("pregen_idle_checks_total") >= 2, what="both workers to see a full pool")
    client = redis.Redis.from_url(redis_url)
    pooled = pooled_ids(client, "rel-1")
    assert len(pooled) == 120
    added = sum(w.metric("pregen_songs_pooled_total", source="generated") for w in (a, b))
    assert added == 120, "each id a worker counted as pooled is in the pool"
    songs = SongCache(client).get_many("rel-1", sorted(pooled))
    assert all(s is not None and not s.failed for s in songs)
    assert a.metric("pregen_songs_pooled_total", source="generated") > 0
    assert b.metric("pregen_songs_pooled_total", source="generated") > 0
    client.close()


def test_backs_off_while_the_generator_is_down_and_recovers(redis_url, workers):
    port = free_port()
    w = workers(redis_url, f"127.0.0.1:{port}", pool_target_size=16)
    wait_until(lambda: w.metric("pregen_dependency_errors_total", dependency="generator") >= 3,
               what="failed calls to the absent generator")
    assert w.metric("pregen_backoff_seconds") > 0
    assert w.thread.is_alive()
    fake = FakeGenerator()
    server = start_generator(fake, f"127.0.0.1:{port}")
    try:
        client = redis.Redis.from_url(redis_url)
        wait_until(lambda: len(pooled_ids(client, "rel-1")) == 16, timeout=40, what="recovery")
        wait_until(lambda: w.metric("pregen_backoff_seconds") == 0, what="back-off reset")
        assert w.worker._backoff.failures == 0, "the next outage must start from the shortest delay"
        client.close()
    finally:
        w.stop()
        server.server.stop(None)


def test_generator_restart_mid_run_keeps_the_worker_going(redis_url, workers):
    port = free_port()
    fake = FakeGenerator()
    server = start_generator(fake, f"127.0.0.1:{port}")
    w = workers(redis_url, f"127.0.0.1:{port}", pool_target_size=16, pool_uses=1)
    client = redis.Redis.from_url(redis_url)
    pool = SongPool(client, "rel-1")
    wait_until(lambda: pool.size() == 16, what="the pool to fill")
    server.server.stop(None)
    for _ in range(16):
        pool.take()
    wait_until(lambda: w.metric("pregen_dependency_errors_total", dependency="generator") >= 1,
               what="the outage to be noticed")
    server = start_generator(fake, f"127.0.0.1:{port}")
    try:
        wait_until(lambda: pool.size() == 16, timeout=40, what="a refill after the restart")
    finally:
        w.stop()
        server.server.stop(None)
        client.close()


def test_refills_after_a_flush_and_a_redis_restart(fake_generator, workers):
    fake, target = fake_generator
    server = ValkeyServer()
    server.start()
    try:
        w = workers(server.url, target, pool_target_size=24)
        client = redis.Redis.from_url(server.url)
        wait_until(lambda: len(pooled_ids(client, "rel-1")) == 24, what="the pool to fill")
        client.flushall()
        wait_until(lambda: len(pooled_ids(client, "rel-1")) == 24, what="a refill after FLUSHALL")
        server.kill()
        wait_until(lambda: w.metric("pregen_dependency_errors_total", dependency="redis") >= 1,
                   what="the Redis outage to be noticed")
        assert w.thread.is_alive()
        server.start()
        wait_until(lambda: len(pooled_ids(client, "rel-1")) == 24, timeout=40,
                   what="a refill after the restart")
        client.close()
        w.stop()
    finally:
        server.stop()


def test_follows_a_new_model_release(redis_url, fake_generator, workers):
    fake, target = fake_generator
    workers(redis_url, target, pool_target_size=16, model_check_s=0.05)
    client = redis.Redis.from_url(redis_url)
    wait_until(lambda: len(pooled_ids(client, "rel-1")) == 16, what="the first release's pool")
    fake.release = "rel-2"
    wait_until(lambda: len(pooled_ids(client, "rel-2")) == 16, what="the new release's pool")
    pooled = pooled_ids(client, "rel-2")
    songs = SongCache(client).get_many("rel-2", sorted(pooled))
    assert all(s is not None and s.model_release == "rel-2" for s in songs)
    client.close()


def test_songs_of_another_release_are_not_pooled_and_trigger_a_switch(redis_url, fake_generator, workers):
    fake, target = fake_generator
    # No periodic check in the test's time: only the songs' own release can tell.
    workers(redis_url, target, pool_target_size=16, pool_uses=1, model_check_s=300)
    client = redis.Redis.from_url(redis_url)
    old = SongPool(client, "rel-1")
    wait_until(lambda: old.size() == 16, what="the first release's pool")
    fake.release = "rel-2"
    for _ in range(5):
        old.take()
    wait_until(lambda: len(pooled_ids(client, "rel-2")) == 16, what="the switch to the new release")
    cache = SongCache(client)
    assert all(cache.get("rel-1", i) is not None for i in pooled_ids(client, "rel-1")), \
        "a rel-2 song was pooled as rel-1"
    assert old.size() <= 11
    client.close()


def test_mirrors_top_songs_and_survives_votes_outage(redis_url, fake_generator, workers):
    fake, target = fake_generator
    votes = FakeVotes([(501, 5), (502, 1), (503, -2)])
    votes_server = start_votes(votes)
    w = workers(redis_url, target, f"127.0.0.1:{votes_server.port}", pool_target_size=8)
    client = redis.Redis.from_url(redis_url)
    top = TopSongs(client, "rel-1")
    wait_until(lambda: top.size() == 2, what="top songs mirrored")
    votes.top = [(601, 3)]
    wait_until(lambda: {top.pick() for _ in range(5)} == {601}, what="a refreshed top list")
    votes_server.server.stop(None)
    wait_until(lambda: w.metric("pregen_dependency_errors_total", dependency="votes") >= 1,
               what="the votes outage to be noticed")
    # Generation goes on and the last list stays.
    SongPool(client, "rel-1").take()
    client.delete(pool_key("rel-1"))
    wait_until(lambda: len(pooled_ids(client, "rel-1")) == 8, what="generation during the outage")
    assert top.pick() == 601
    client.close()


def test_stop_cancels_a_batch_in_flight(redis_url, fake_generator, workers):
    fake, target = fake_generator
    fake.hold = threading.Event()
    w = workers(redis_url, target, pool_target_size=16, generate_timeout_s=60)
    wait_until(lambda: fake.requests, what="a batch to start")
    started = time.monotonic()
    w.stop(timeout=10)
    assert time.monotonic() - started < 5
    fake.hold.set()


def test_python_m_pregen_fills_the_pool_and_stops_on_sigterm(redis_url, fake_generator):
    fake, target = fake_generator
    env = {**os.environ,
           "GENERATOR_TARGET": target, "VOTES_TARGET": f"127.0.0.1:{free_port()}",
           "REDIS_URL": redis_url, "METRICS_PORT": "0", "POOL_TARGET_SIZE": "12",
           "PREGEN_IDLE_S": "0.05", "LOG_FORMAT": "json"}
    process = subprocess.Popen([sys.executable, "-m", "pregen"], env=env, cwd=ROOT,
                               stderr=subprocess.PIPE, text=True)
    try:
        client = redis.Redis.from_url(redis_url)
        wait_until(lambda: len(pooled_ids(client, "rel-1")) == 12 or process.poll() is not None,
                   timeout=30, what="the pool to fill")
        assert process.poll() is None, process.stderr.read()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0, stderr
        assert "pregen worker stopped" in stderr, "no graceful shutdown"
        client.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_settings_stop_start_up_with_a_clear_message(redis_url):
    env = {**os.environ, "POOL_TARGET_SIZE": "lots"}
    result = subprocess.run([sys.executable, "-m", "pregen"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "POOL_TARGET_SIZE='lots' is not an integer" in result.stderr
