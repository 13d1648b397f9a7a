"""A vote is one round trip to PostgreSQL (the function cast_vote of migration
0003, one statement in autocommit, no connection check on a connection that
just worked), and a connection that breaks after it last worked is replaced
without losing or doubling anything."""
from __future__ import annotations

import tempfile

import psycopg
import pytest

from votes import migrate
from votes.errors import InvalidArgument, NotFound
from votes.store import Store


@pytest.fixture
def store(postgres_url):
    migrate.migrate(postgres_url)
    s = Store.connect(postgres_url, 1)  # one connection: every operation reuses it
    yield s
    s.close()


def round_trips(store: Store, operation) -> int:
    """ReadyForQuery messages PostgreSQL sent while ``operation`` ran: one per round trip."""
    with tempfile.TemporaryFile("w+") as trace:
        with store.pool.connection() as conn:
            conn.pgconn.trace(trace.fileno())
        try:
            operation()
        finally:
            with store.pool.connection() as conn:
                conn.pgconn.untrace()
        trace.seek(0)
        return sum(1 for line in trace if "\tReadyForQuery\t" in line or " ReadyForQuery " in line)


def test_a_vote_is_one_round_trip(store):
    user = store.create_account("ada", "hash").user_id
    store.cast_vote(user, "r1", 5, 1, "Song", "la")  # the first vote stores the song
    assert round_trips(store, lambda: store.cast_vote(user, "r1", 5, -1, "Song", "la")) == 1
    assert round_trips(store, lambda: store.cast_vote(user, "r1", 6, 1, "Song 6", "la")) == 1
    assert round_trips(store, lambda: store.cast_vote(user, "r1", 5, 0, "Song", "la")) == 1


def test_the_function_keeps_the_vote_rules(store):
    ada = store.create_account("ada", "hash").user_id
    bob = store.create_account("bob", "hash").user_id
    counts, changed = store.cast_vote(ada, "r1", 7, 1, "Seven", "la")
    assert (counts.up, counts.down, counts.mine, changed) == (1, 0, 1, True)
    counts, changed = store.cast_vote(ada, "r1", 7, 1, "Seven", "la")
    assert (counts.up, counts.down, counts.mine, changed) == (1, 0, 1, False)
    counts, changed = store.cast_vote(bob, "r1", 7, -1, "", "")  # the song is stored: no title needed
    assert (counts.up, counts.down, counts.mine, changed) == (1, 1, -1, True)
    counts, changed = store.cast_vote(ada, "r1", 7, -1, "Seven", "la")  # a flip
    assert (counts.up, counts.down, counts.mine, changed) == (0, 2, -1, True)
    seven, changed = store.cast_vote(ada, "r1", 7, 0, "Seven", "la")  # withdrawn
    assert (seven.up, seven.down, seven.mine, changed) == (0, 1, 0, True)
    counts, changed = store.cast_vote(ada, "r1", 8, 0, "", "")  # withdrawing on an unknown song stores nothing
    assert (counts.up, counts.down, counts.mine, changed) == (0, 0, 0, False)
    with pytest.raises(NotFound, match="no account with user_id 999"):
        store.cast_vote(999, "r1", 7, 1, "Seven", "la")
    with pytest.raises(InvalidArgument, match="title is required"):
        store.cast_vote(ada, "r1", 9, 1, "", "")
    assert store.song_votes("r1", 7, ada) == seven
    assert store.song_votes("r1", 8, None).up == 0
    with pytest.raises(NotFound):
        store.stored_song("r1", 8)


def kill_backends(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                      " AND application_name = 'votes'")


def test_a_connection_broken_right_after_it_worked_is_replaced(store, postgres_url):
    ada = store.create_account("ada", "hash").user_id
    store.cast_vote(ada, "r1", 11, 1, "Eleven", "la")
    kill_backends(postgres_url)  # the pool's only connection dies while it counts as fresh
    counts, _ = store.cast_vote(ada, "r1", 11, -1, "Eleven", "la")  # retried on a new connection
    assert (counts.up, counts.down, counts.mine) == (0, 1, -1)
    kill_backends(postgres_url)
    # Not idempotent: it fails before anything committed, so it is retried too, once.
    assert store.create_account("bob", "hash").username == "bob"
    assert store.account_by_name("bob") is not None
    assert store.song_votes("r1", 11, ada).down == 1


def test_connections_are_autocommit_and_idle_between_operations(store):
    store.create_account("ada", "hash")
    with store.pool.connection() as conn:
        assert conn.autocommit
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
