"""docs/deploy.md "Backup and restore", done as written: pg_dump (custom
format) of a live votes database with the embedded server's own binaries,
pg_restore into a fresh PostgreSQL server, and the votes service on the restored
database finds every account, every vote and every stored song."""
from __future__ import annotations

import subprocess

from billionsongs.v1 import votes_pb2
from devstack.servers import PostgresServer

UP, DOWN, NONE = votes_pb2.VOTE_UP, votes_pb2.VOTE_DOWN, votes_pb2.VOTE_NONE
SNAPSHOT = {
    "users": "SELECT user_id, username, password_hash FROM users ORDER BY user_id",
    "votes": "SELECT user_id, model_release, song_key, vote FROM votes ORDER BY 1, 2, 3",
    "songs": "SELECT model_release, song_key, title, lyrics, up, down FROM songs ORDER BY 1, 2",
    "migrations": "SELECT version, name FROM schema_migrations ORDER BY version",
}


def snapshot(server: PostgresServer, database: str) -> dict[str, str]:
    server.database, previous = database, server.database
    try:
        return {name: server.psql(sql) for name, sql in SNAPSHOT.items()}
    finally:
        server.database = previous


def test_a_dump_restores_every_vote_and_stored_song(votes, votes_factory, postgres_server, postgres_url,
                                                    fresh_postgres_server, tmp_path):
    users = {name: votes.register(name).user_id for name in ("ann", "bob", "cyd")}
    ballots = [("ann", 7, UP), ("bob", 7, DOWN), ("cyd", 7, UP), ("ann", 2 ** 63 + 5, DOWN),
               ("bob", 2 ** 64 - 1, UP), ("cyd", 99, UP), ("cyd", 99, NONE)]  # the last one withdrawn
    for name, song_id, vote in ballots:
        votes.vote(users[name], song_id, vote, title=f"Title «{song_id}»", lyrics=f"line one\nline two {song_id}")
    source_db = postgres_url.rsplit("/", 1)[1]
    before = snapshot(postgres_server, source_db)
    assert before["votes"].count("\n") == 5 and before["songs"].count("\n") >= 4

    # backup: what an operator runs against the live server (no downtime)
    dump = tmp_path / "billionsongs.dump"
    subprocess.run([postgres_server.tool("pg_dump"), "--format=custom", "--no-owner", "-h", "127.0.0.1",
                    "-p", str(postgres_server.port), "-U", "postgres", "-d", source_db, "-f", str(dump)],
                   check=True, capture_output=True, timeout=120)
    # restore: into a fresh server, an empty database
    restored_url = fresh_postgres_server.create_database("billionsongs")
    subprocess.run([fresh_postgres_server.tool("pg_restore"), "--exit-on-error", "--no-owner", "-h", "127.0.0.1",
                    "-p", str(fresh_postgres_server.port), "-U", "postgres", "-d", "billionsongs", str(dump)],
                   check=True, capture_output=True, timeout=120)
    assert snapshot(fresh_postgres_server, "billionsongs") == before

    # and the service on it: every vote, every count, every stored song
    restored = votes_factory(restored_url)
    for name, user_id in users.items():
        assert restored.stub.Authenticate(votes_pb2.AuthenticateRequest(username=name, password="secret-1"),
                                          timeout=10).user.user_id == user_id
    counts = restored.stub.GetSongVotes(votes_pb2.GetSongVotesRequest(song_id=7, model_release="r1",
                                                                      user_id=users["bob"]), timeout=10).votes
    assert (counts.up, counts.down, counts.mine) == (2, 1, DOWN)
    for song_id in (7, 2 ** 63 + 5, 2 ** 64 - 1):
        song = restored.stub.GetStoredSong(votes_pb2.GetStoredSongRequest(song_id=song_id, model_release="r1"),
                                           timeout=10)
        assert (song.title, song.lyrics) == (f"Title «{song_id}»", f"line one\nline two {song_id}")
