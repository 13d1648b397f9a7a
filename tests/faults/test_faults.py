"""While mixed traffic runs, kill -9 a generator worker mid-song, the generator
server, the votes service and pregen, restart PostgreSQL and flush Redis. Then:
every acknowledged vote is there exactly once and the counts match (through the
site, the votes service and PostgreSQL itself); the site answered only 2xx/3xx/
404/friendly 503, never a 500 and never a hang; every service came back by itself.
"""
from __future__ import annotations

import random
import signal
import threading
from collections import Counter

import grpc
import psutil
import pytest
import redis as redis_lib

from bench.traffic import (
    ALLOWED,
    Account,
    Ledger,
    Recorder,
    cached_reader,
    get,
    random_visitor,
    session,
    votable_songs,
    voter,
)
from billionsongs.v1 import generator_pb2, generator_pb2_grpc
from tests.support.stack import metric_value, metrics_text, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(420)]

VOTERS = 5
OFFSET = 2 ** 63  # votes stores song_id - 2^63 (votes/songids.py)


def worker_pids(generator_pid: int) -> list[int]:
    """The generator's worker processes (multiprocessing spawn children)."""
    return [p.pid for p in psutil.Process(generator_pid).children()
            if any("spawn_main" in part for part in p.cmdline())]


def kill_worker_mid_song(rs) -> None:
    """Ask for a batch of fresh songs; when the first one is back, the worker holds
    the rest: kill -9 it. Every song must still come back, retried on a fresh worker,
    byte-identical to the same ids generated again afterwards."""
    ids = [10 ** 12 + i for i in range(160)]  # ten batches: the worker still holds songs at the kill
    generator_pid = rs.stack.service("generator").process.pid
    before = metric_value(metrics_text(rs.ports.generator_metrics), "generator_retries_total") or 0.0
    with grpc.insecure_channel(f"127.0.0.1:{rs.ports.generator}") as channel:
        stub = generator_pb2_grpc.GeneratorStub(channel)
        songs = {}
        stream = stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=ids), timeout=120)
        for song in stream:
            if not songs:
                victims = worker_pids(generator_pid)
                assert victims, "no generator worker process found"
                for pid in victims:
                    psutil.Process(pid).send_signal(signal.SIGKILL)
            songs[song.song_id] = song
        assert sorted(songs) == ids
        again = {s.song_id: s for s in stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=ids[-8:]), timeout=60)}
    for song_id, song in again.items():
        assert (song.title, song.lyrics, song.failed) == (songs[song_id].title, songs[song_id].lyrics,
                                                          songs[song_id].failed)
    text = metrics_text(rs.ports.generator_metrics)
    assert metric_value(text, "generator_worker_exits_total") >= 1
    assert metric_value(text, "generator_retries_total") > before, "the kill did not hit a song in flight"


def kill_service(rs, name: str) -> int:
    spec = rs.stack.service(name)
    restarts = spec.restarts
    rs.stack.kill(name, signal.SIGKILL)
    spec.process.wait(10)
    return restarts


def wait_restarted(rs, name: str, restarts: int) -> None:
    wait_until(lambda: rs.stack.service(name).restarts > restarts, 30, f"{name} restarted by the supervisor")
    rs.wait_healthy(timeout=90)


def wait_more_acks(ledger: Ledger, more: int, timeout: float = 60) -> None:
    target = ledger.acks + more
    wait_until(lambda: ledger.acks >= target, timeout, f"{more} more acknowledged votes")


def test_nothing_lost_under_faults(running_stack):
    rs = running_stack
    base = rs.url
    rng = random.Random(10)
    songs = votable_songs(base, 16)
    tag = f"{rng.randrange(10 ** 6):06d}"
    accounts = [Account(base, f"voter{i}-{tag}", f"pass-{i}-{tag}") for i in range(VOTERS)]
    for account in accounts:
        account.register()

    recorder, ledger, stop, seen = Recorder(), Ledger(), threading.Event(), []
    errors: list[BaseException] = []

    def guarded(target, *args):
        def run():
            try:
                target(*args)
            except BaseException as error:  # noqa: BLE001 - reported by the test below
                errors.append(error)
        return threading.Thread(target=run, daemon=True)

    threads = [guarded(voter, a, songs, ledger, recorder, stop, random.Random(i)) for i, a in enumerate(accounts)]
    threads += [guarded(random_visitor, base, seen, recorder, stop) for _ in range(2)]
    threads += [guarded(cached_reader, base, songs, recorder, stop, random.Random(100 + i)) for i in range(2)]
    for thread in threads:
        thread.start()
    faults = []
    try:
        wait_more_acks(ledger, 20)

        kill_worker_mid_song(rs)
        faults.append("generator worker killed mid-song")
        wait_more_acks(ledger, 5)

        restarts = kill_service(rs, "generator")
        # While the generator is down, songs already written are still served.
        cached = get(session(), f"{base}/song/{songs[0]}")
        assert cached.status_code == 200 and "Set-Cookie" not in cached.headers
        assert get(session(), f"{base}/song/{10 ** 15 + 7}").status_code in (200, 503)
        wait_restarted(rs, "generator", restarts)
        faults.append("generator server killed")
        wait_more_acks(ledger, 5)

        restarts = kill_service(rs, "votes")
        wait_restarted(rs, "votes", restarts)
        faults.append("votes killed")
        wait_more_acks(ledger, 5)

        restarts = kill_service(rs, "pregen")
        wait_restarted(rs, "pregen", restarts)
        faults.append("pregen killed")

        try:
            rs.stack.postgres.restart()
        except Exception as error:
            log = (rs.stack.postgres.data_dir / "server.log").read_text(errors="replace")
            raise AssertionError(f"PostgreSQL did not restart: {error}\n{log[-3000:]}") from error
        rs.wait_healthy(timeout=90)
        wait_more_acks(ledger, 5)
        faults.append("postgres restarted")

        def pooled() -> float:
            return metric_value(metrics_text(rs.ports.pregen_metrics), "pregen_songs_pooled_total") or 0.0

        pooled_before = pooled()
        client = redis_lib.Redis(port=rs.stack.redis.port)
        client.flushall()
        client.close()
        wait_until(lambda: pooled() > pooled_before, 60, "pregen refilling the pool after the flush")
        wait_more_acks(ledger, 10)
        faults.append("redis flushed")
    finally:
        stop.set()
        for thread in threads:
            thread.join(90)
    assert not [t for t in threads if t.is_alive()], "a traffic thread hung"
    assert not errors, errors
    rs.wait_healthy(timeout=60)

    samples = recorder.snapshot()
    statuses = Counter(s.status for s in samples)
    bad = [s for s in samples if s.status not in ALLOWED]
    assert not bad, f"{len(bad)} bad answers of {len(samples)}, e.g. {bad[:5]}"
    assert statuses[200] > 100 and seen, statuses
    print(f"\nfaults survived: {faults}\nanswers: {dict(statuses)} over {len(samples)} requests; "
          f"votes acknowledged: {ledger.acks}, retried: {ledger.retries}; "
          f"restarts: { {s.name: s.restarts for s in rs.stack.services} }")

    expected = {key: vote for key, vote in ledger.acked.items() if vote is not None}
    names = {a.name for a in accounts}

    # 1. through the site: each user's votes and every song's counts
    for account in accounts:
        r = get(account.http, base + "/api/me/votes")
        assert r.status_code == 200, r.text
        mine = [(v["id"], v["vote"]) for v in r.json()["votes"]]
        assert len(mine) == len({i for i, _ in mine}), f"a vote listed twice: {mine}"
        assert {(int(i), v) for i, v in mine} == {(s, v) for (u, s), v in expected.items() if u == account.name}
    for song_id in songs:
        counts = get(session(), f"{base}/api/songs/{song_id}/votes").json()
        votes_here = Counter(v for (_, s), v in expected.items() if s == song_id)
        assert (counts["up"], counts["down"]) == (votes_here["up"], votes_here["down"]), song_id

    # 2. in PostgreSQL itself: exactly one row per acknowledged vote, nothing else
    rows = rs.sql("SELECT u.username, v.song_key, v.vote FROM votes v JOIN users u USING (user_id)")
    stored = [(name, int(key) + OFFSET, "up" if vote == "1" else "down") for name, key, vote in rows
              if name in names]
    assert len(stored) == len(set(stored))
    assert {(n, s): v for n, s, v in stored} == expected
    assert len(stored) == len(expected)
    for key, up, down in rs.sql("SELECT song_key, up, down FROM songs"):
        votes_here = Counter(v for (_, s), v in expected.items() if s == int(key) + OFFSET)
        assert (int(up), int(down)) == (votes_here["up"], votes_here["down"])

    # 3. every service came back by itself, and the site still works end to end
    assert all(rs.stack.service(n).restarts >= 1 for n in ("generator", "votes", "pregen"))
    final = get(session(), base + "/", allow_redirects=False)
    assert final.status_code in (302, 303) and "/song/" in final.headers["Location"]
    assert get(session(), base + final.headers["Location"]).status_code in (200, 404)
