"""The real servers behind tests and `make run`: data survives a stop, a crash
(SIGKILL of the whole group) and a start on the same directory and port."""
from __future__ import annotations

import threading

import redis

from devstack.servers import PostgresServer, RedisServer


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


def test_redis_restarts_on_the_same_port_empty():
    server = RedisServer()
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
