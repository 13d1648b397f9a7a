"""kill -9 of PostgreSQL's postmaster, then of the key-value server (Valkey),
while visitors vote: the supervisor of `make run` brings each back by itself
(PostgreSQL through its own crash recovery from the WAL), votes are
acknowledged again without anyone restarting the stack, and no acknowledged
vote is lost (checked in PostgreSQL itself)."""
from __future__ import annotations

import os
import random
import signal
import threading
from collections import Counter

import pytest

from bench.traffic import ALLOWED, Account, Ledger, Recorder, votable_songs, voter
from tests.support.stack import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(300)]

OFFSET = 2 ** 63  # votes stores song_id - 2^63 (votes/songids.py)


def crash(server) -> int:
    """kill -9 the server's main process only (the postmaster; its backends are
    left to notice), as the OOM killer would; returns its restart count before."""
    restarts = server.restarts
    os.kill(server.process.pid, signal.SIGKILL)
    return restarts


def test_postgres_and_valkey_come_back_by_themselves_and_no_vote_is_lost(running_stack):
    rs = running_stack
    base = rs.url
    songs = votable_songs(base, 8)
    tag = f"{random.randrange(10 ** 6):06d}"
    accounts = [Account(base, f"crash{i}-{tag}", f"pass-{i}-{tag}") for i in range(3)]
    for account in accounts:
        account.register()
    recorder, ledger, stop, errors = Recorder(), Ledger(), threading.Event(), []

    def run(account, seed):
        try:
            voter(account, songs, ledger, recorder, stop, random.Random(seed))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(a, i), daemon=True) for i, a in enumerate(accounts)]
    for thread in threads:
        thread.start()

    def more_acks(n: int, timeout: float = 90) -> None:
        target = ledger.acks + n
        wait_until(lambda: ledger.acks >= target, timeout, f"{n} more acknowledged votes")

    try:
        more_acks(15)
        for server in (rs.stack.postgres, rs.stack.redis):
            before = crash(server)
            wait_until(lambda: server.restarts > before and not server.exited(), 120,
                       f"{server.name} restarted by the supervisor")
            rs.wait_healthy(timeout=90)
            more_acks(15)  # votes go through again, nobody restarted anything by hand
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    assert rs.stack.postgres.restarts >= 1 and rs.stack.redis.restarts >= 1
    assert rs.stack.postgres.durable, "make run's PostgreSQL keeps fsync on"
    bad = [s for s in recorder.snapshot() if s.status not in ALLOWED]
    assert not bad, bad[:5]

    expected = {key: vote for key, vote in ledger.acked.items() if vote is not None}
    names = {a.name for a in accounts}
    rows = rs.sql("SELECT u.username, v.song_key, v.vote FROM votes v JOIN users u USING (user_id)")
    stored = [(name, int(key) + OFFSET, "up" if vote == "1" else "down") for name, key, vote in rows
              if name in names]
    assert len(stored) == len(set(stored))
    assert {(n, s): v for n, s, v in stored} == expected, "an acknowledged vote was lost or changed"
    statuses = Counter(s.status for s in recorder.snapshot())
    print(f"\nserver crashes: answers {dict(statuses)}, votes acknowledged {ledger.acks}, "
          f"retried {ledger.retries}; restarts postgres {rs.stack.postgres.restarts}, "
          f"valkey {rs.stack.redis.restarts}")
