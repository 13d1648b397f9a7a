"""The real servers behind tests and `make run`: data survives a stop, a crash
(SIGKILL of the whole group) and a start on the same directory and port; the
servers are the images' families and major versions (PostgreSQL 18, Valkey 9);
`make run`'s PostgreSQL keeps its durability promise."""
from __future__ import annotations

import threading

import redis

from devstack.servers import PostgresServer, ValkeyServer


def test_postgres_keeps_data_across_stop_and_crash(tmp_path):
    server = PostgresServer(tmp_path / "data")
    server.start()
    try:
        server.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
        port = server.port
        server.stop()
        server.start()
        server.psql("INSERT INTO t VALUES (2)")
        server.kill()  # crash: every backend dies with the postmaster
        server.start()
        assert server.port == port
        assert server.psql("SELECT string_agg(v::text, ',' ORDER BY v) FROM t").strip() == "1,2"
    finally:
        server.stop()


def test_postgres_starts_from_a_process_running_threads(tmp_path):
    # Services and tests start PostgreSQL while gRPC threads run.
    stop = threading.Event()
    workers = [threading.Thread(target=stop.wait) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        with PostgresServer(tmp_path / "data") as server:
            assert server.psql("SELECT 41 + 1").strip() == "42"
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def test_valkey_restarts_on_the_same_port_empty():
    server = ValkeyServer()
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        server.kill()
        server.start()
        assert client.get("k") is None  # Redis holds only what can be rebuilt
        client.close()
    finally:
        server.stop()


def test_postgres_is_durable_unless_a_test_says_otherwise(tmp_path):
    settings = ("fsync", "synchronous_commit", "full_page_writes")
    with PostgresServer(tmp_path / "durable") as server:  # make run's default
        assert [server.psql(f"SHOW {name}").strip() for name in settings] == ["on", "on", "on"]
        assert server.psql("SHOW server_version_num").strip().startswith("18")  # postgres:18 images
    with PostgresServer(tmp_path / "fast", durable=False) as server:
        assert [server.psql(f"SHOW {name}").strip() for name in settings] == ["off", "off", "off"]


def test_make_run_keeps_postgres_durable(tmp_path):
    from devstack.launcher import Stack
    assert Stack(tmp_path).postgres.settings == {"fsync": "on", "synchronous_commit": "on",
                                                 "full_page_writes": "on"}
    command = " ".join(Stack(tmp_path).postgres.command())
    assert "fsync=on" in command and "fsync=off" not in command


def test_key_value_server_is_valkey_9_with_expire_nx():
    with ValkeyServer() as server:
        client = redis.Redis.from_url(server.url)
        info = client.info("server")
        assert info["server_name"] == "valkey" and str(info["valkey_version"]).startswith("9.")
        client.set("k", "v")
        assert client.expire("k", 60, nx=True) and not client.expire("k", 5, nx=True)  # Redis 7+ / Valkey
        assert client.ttl("k") > 5
        client.close()


def test_sign_in_rate_limit_window_is_set_once(redis_url):
    from web.ratelimit import over_limit
    client = redis.Redis.from_url(redis_url)
    assert [over_limit(client, "rl:test", 3, window_s=30) for _ in range(3)] == [0, 0, 0]
    client.expire("rl:test", 10)  # as if time passed: 10 s left of the window
    retry = over_limit(client, "rl:test", 3, window_s=30)
    assert 1 <= retry <= 10, "a later hit must not push the window's end back"
    assert client.ttl("rl:test") <= 10
    client.close()
