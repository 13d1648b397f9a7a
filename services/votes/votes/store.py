"""Accounts, votes and songs in PostgreSQL, through a psycopg connection pool.

Every operation is one short transaction. Vote counts live on the song's row
and change in the same transaction as the vote, under that row's lock, so
concurrent voters on one song queue up and no vote is lost or counted twice.
Locks are always taken in the order user row, then song rows by key, so
casting a vote and deleting an account cannot deadlock each other.

When the database goes away (restart, failover) the pool drops broken
connections (``check``) and reconnects; an operation whose transaction did not
reach COMMIT is retried until the caller's deadline, and one that may have
committed is retried only when it is idempotent, otherwise the caller gets
Unavailable. Nothing is acknowledged before COMMIT returns.
"""
from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import psycopg
from prometheus_client import Counter
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from votes.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated, Unavailable

log = logging.getLogger(__name__)

DB_RETRIES = Counter("votes_db_retries_total", "Transactions retried, by reason", ["reason"])

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    password_hash: str
    # Sessions made at this generation are valid; sign-out and a password change move it on.
    session_generation: int


@dataclass(frozen=True)
class Counts:
    up: int
    down: int
    mine: int  # +1, -1 or 0


@dataclass(frozen=True)
class TopRow:
    song_key: int
    title: str
    up: int
    down: int
    score: int


@dataclass(frozen=True)
class VoteRow:
    song_key: int
    title: str
    vote: int
    voted_at_us: int


# When each pooled connection last finished an operation without an error.
_LAST_GOOD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# A connection that worked this recently is handed out without the check's round
# trip; if the database went away meanwhile, the operation fails on it before
# anything committed (or, for a single idempotent statement, is safe to repeat),
# the pool drops it and the retry loop takes another.
FRESH_S = 1.0


def _check_unless_fresh(conn: psycopg.Connection) -> None:
    last = _LAST_GOOD.get(conn)
    if (last is not None and time.monotonic() - last < FRESH_S and not conn.closed
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE):
        return
    ConnectionPool.check_connection(conn)


class Store:
    def __init__(self, pool: ConnectionPool, *, default_wait: float = 10.0):
        self.pool = pool
        # How long an operation may keep retrying when the caller set no deadline.
        self.default_wait = default_wait

    @classmethod
    def connect(cls, conninfo: str, size: int, *, open_timeout: float = 30.0) -> Store:
        pool = ConnectionPool(
            conninfo, min_size=size, max_size=size, open=False, name="votes",
            # A connection broken by a database restart is found and replaced
            # when it is taken from the pool, not when a query fails on it.
            check=_check_unless_fresh,
            # Autocommit: a one-statement operation (a vote) is one round trip;
            # the others open their transaction explicitly (conn.transaction()).
            kwargs={"connect_timeout": 5, "application_name": "votes", "autocommit": True},
            # Keep trying to reconnect through a long outage.
            reconnect_timeout=3600)
        pool.open(wait=True, timeout=open_timeout)
        return cls(pool)

    def close(self) -> None:
        self.pool.close()

    # -- the retry loop -------------------------------------------------------

    def _transact(self, work: Callable[[psycopg.Connection], T], *, idempotent: bool,
                  deadline: float | None, single_statement: bool = False) -> T:
        """Run ``work`` as one transaction, retried as the module doc says.
        ``single_statement``: ``work`` sends exactly one statement, which the
        autocommit connection runs as its own transaction (no BEGIN and COMMIT
        round trips); its commit may happen any time it runs."""
        deadline = time.monotonic() + self.default_wait if deadline is None else deadline
        backoff = 0.02
        while True:
            committing = False
            try:
                with self.pool.connection(timeout=max(0.01, deadline - time.monotonic())) as conn:
                    if single_statement:
                        committing = True
                        result = work(conn)
                    else:
                        with conn.transaction():
                            result = work(conn)
                            committing = True
                    _LAST_GOOD[conn] = time.monotonic()
                    return result
            except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected):
                # Rolled back by the server: always safe to run again.
                DB_RETRIES.labels("conflict").inc()
            except PoolClosed:
                raise Unavailable("votes service is shutting down") from None
            except PoolTimeout:
                raise Unavailable("database unavailable: no connection before the deadline") from None
            except psycopg.OperationalError as error:
                if committing and not idempotent:
                    # The COMMIT may or may not have happened; running the
                    # operation again could act twice.
                    raise Unavailable("database connection lost while committing; "
                                      "the outcome is unknown") from error
                DB_RETRIES.labels("connection").inc()
                log.warning("database error, retrying: %s", error)
            if time.monotonic() + backoff >= deadline:
                raise Unavailable("database unavailable: retries ran out before the deadline")
            time.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    # -- accounts -------------------------------------------------------------

    def create_account(self, username: str, password_hash: str, *, deadline: float | None = None) -> Account:
        def work(conn):
            row = conn.execute(
                "INSERT INTO users (username, password_hash) VALUES (%s, %s)"
                " ON CONFLICT ((lower(username))) DO NOTHING RETURNING user_id, session_generation",
                (username, password_hash)).fetchone()
            if row is None:
                raise AlreadyExists(f"username {username!r} is taken")
            return Account(row[0], username, password_hash, row[1])
        return self._transact(work, idempotent=False, deadline=deadline)

    def account_by_name(self, username: str, *, deadline: float | None = None) -> Account | None:
        def work(conn):
            row = conn.execute(
                "SELECT user_id, username, password_hash, session_generation FROM users"
                " WHERE lower(username) = lower(%s)",
                (username,)).fetchone()
            return None if row is None else Account(*row)
        return self._transact(work, idempotent=True, deadline=deadline)

    def account_by_id(self, user_id: int, *, deadline: float | None = None) -> Account:
        def work(conn):
            row = conn.execute("SELECT user_id, username, password_hash, session_generation FROM users"
                               " WHERE user_id = %s", (user_id,)).fetchone()
            if row is None:
                raise NotFound(f"no account with user_id {user_id}")
            return Account(*row)
        return self._transact(work, idempotent=True, deadline=deadline)

    def replace_password_hash(self, user_id: int, old_hash: str, new_hash: str, *, end_sessions: bool = False,
                              deadline: float | None = None) -> int | None:
        """Compare-and-set: None when the hash changed since it was read (a concurrent
        password change), so a stale old password never wins; else the account's session
        generation afterwards, moved on when ``end_sessions`` (every session ends)."""
        def work(conn):
            row = conn.execute(
                "UPDATE users SET password_hash = %s,"
                " session_generation = session_generation + %s::int"
                " WHERE user_id = %s AND password_hash = %s RETURNING session_generation",
                (new_hash, int(end_sessions), user_id, old_hash)).fetchone()
            return None if row is None else row[0]
        # Not idempotent when it ends sessions: a retry after a lost COMMIT finds the new
        # hash and answers None ("changed meanwhile"), never a second generation step.
        return self._transact(work, idempotent=not end_sessions, deadline=deadline)

    def check_session(self, user_id: int, generation: int, *, deadline: float | None = None) -> Account:
        """The account, if ``generation`` is its current session generation; NotFound when
        there is no such account, Unauthenticated when its sessions were ended since."""
        account = self.account_by_id(user_id, deadline=deadline)
        if account.session_generation != generation:
            raise Unauthenticated("this session has ended (signed out, or the password changed)")
        return account

    def end_sessions(self, user_id: int, generation: int, *, deadline: float | None = None) -> None:
        """Move the account's session generation on if it is still ``generation``: every
        session made before ends. Nothing to do for an account or session already gone."""
        def work(conn):
            conn.execute("UPDATE users SET session_generation = session_generation + 1"
                         " WHERE user_id = %s AND session_generation = %s", (user_id, generation))
        # Idempotent: a retry after a lost COMMIT finds the generation moved and does nothing.
        self._transact(work, idempotent=True, deadline=deadline, single_statement=True)

    def delete_account(self, user_id: int, verified_hash: str, *, deadline: float | None = None) -> None:
        def work(conn):
            row = conn.execute("SELECT password_hash FROM users WHERE user_id = %s FOR UPDATE",
                               (user_id,)).fetchone()
            if row is None:
                raise NotFound(f"no account with user_id {user_id}")
            if row[0] != verified_hash:
                raise Unauthenticated("the password changed meanwhile; try again")
            # Lock the songs this user voted on in key order (see module doc).
            conn.execute(
                "SELECT 1 FROM songs s JOIN votes v USING (model_release, song_key)"
                " WHERE v.user_id = %s ORDER BY s.model_release, s.song_key FOR UPDATE OF s",
                (user_id,))
            conn.execute(
                "UPDATE songs s SET up = s.up - (v.vote = 1)::int, down = s.down - (v.vote = -1)::int"
                " FROM votes v WHERE v.user_id = %s"
                " AND v.model_release = s.model_release AND v.song_key = s.song_key",
                (user_id,))
            conn.execute("DELETE FROM users WHERE user_id = %s", (user_id,))  # votes cascade
        # Not idempotent: a retry after a lost COMMIT would answer NOT_FOUND.
        self._transact(work, idempotent=False, deadline=deadline)

    # -- votes ----------------------------------------------------------------

    @staticmethod
    def _require_user(conn, user_id: int, lock: str = "") -> None:
        if conn.execute(f"SELECT 1 FROM users WHERE user_id = %s {lock}", (user_id,)).fetchone() is None:
            raise NotFound(f"no account with user_id {user_id}")

    def cast_vote(self, user_id: int, release: str, song_key: int, vote: int, title: str, lyrics: str,
                  *, deadline: float | None = None) -> tuple[Counts, bool]:
        """Set the user's vote (+1, -1, 0 to withdraw); return the song's counts
        and whether anything changed. One statement, one round trip: the
        function cast_vote (migration 0003) is the whole transaction."""
        def work(conn):
            try:
                up, down, mine, changed = conn.execute(
                    "SELECT * FROM cast_vote(%s, %s, %s, %s, %s, %s)",
                    (user_id, release, song_key, vote, title, lyrics)).fetchone()
            except pg_errors.NoDataFound as error:
                raise NotFound(error.diag.message_primary or f"no account with user_id {user_id}") from None
            except pg_errors.InvalidParameterValue as error:
                raise InvalidArgument(error.diag.message_primary or "invalid vote") from None
            return Counts(up, down, mine), changed
        # Setting a vote to a value is idempotent, so a retry after a lost
        # COMMIT is safe (it finds the vote already there).
        return self._transact(work, idempotent=True, deadline=deadline, single_statement=True)

    def song_votes(self, release: str, song_key: int, user_id: int | None, *,
                   deadline: float | None = None) -> Counts:
        def work(conn):
            if user_id is not None:
                self._require_user(conn, user_id)
            row = conn.execute(
                "SELECT coalesce(s.up, 0), coalesce(s.down, 0), coalesce(v.vote, 0) FROM (SELECT 1) one"
                " LEFT JOIN songs s ON s.model_release = %(r)s AND s.song_key = %(k)s"
                " LEFT JOIN votes v ON v.user_id = %(u)s AND v.model_release = %(r)s AND v.song_key = %(k)s",
                {"r": release, "k": song_key, "u": user_id}).fetchone()
            return Counts(*row)
        return self._transact(work, idempotent=True, deadline=deadline)

    def top_songs(self, release: str, limit: int, *, deadline: float | None = None) -> list[TopRow]:
        def work(conn):
            rows = conn.execute(
                "SELECT song_key, title, up, down, score FROM songs"
                " WHERE model_release = %s AND up + down > 0"
                " ORDER BY score DESC, up DESC, song_key ASC LIMIT %s", (release, limit)).fetchall()
            return [TopRow(*row) for row in rows]
        return self._transact(work, idempotent=True, deadline=deadline)

    def user_votes(self, user_id: int, release: str, limit: int, after: tuple[int, int] | None, *,
                   deadline: float | None = None) -> tuple[list[VoteRow], bool]:
        """Newest first, ``limit`` rows after the position ``after`` =
        (voted_at in us, song_key); also whether more rows follow."""
        def work(conn):
            self._require_user(conn, user_id)
            query = ("SELECT v.song_key, s.title, v.vote, v.voted_at FROM votes v"
                     " JOIN songs s USING (model_release, song_key)"
                     " WHERE v.user_id = %s AND v.model_release = %s")
            params: list = [user_id, release]
            if after is not None:
                query += " AND (v.voted_at, v.song_key) < (%s, %s)"
                params += [from_us(after[0]), after[1]]
            query += " ORDER BY v.voted_at DESC, v.song_key DESC LIMIT %s"
            rows = conn.execute(query, [*params, limit + 1]).fetchall()
            return [VoteRow(k, t, v, to_us(at)) for k, t, v, at in rows[:limit]], len(rows) > limit
        return self._transact(work, idempotent=True, deadline=deadline)

    def stored_song(self, release: str, song_key: int, *, deadline: float | None = None) -> tuple[str, str]:
        def work(conn):
            row = conn.execute("SELECT title, lyrics FROM songs WHERE model_release = %s AND song_key = %s",
                               (release, song_key)).fetchone()
            if row is None:
                raise NotFound("no stored song with that id in that model release (nobody voted on it)")
            return row
        return self._transact(work, idempotent=True, deadline=deadline)
