"""The versioned migration runner against real PostgreSQL."""
import threading

import grpc
import psycopg
import pytest

from billionsongs.v1 import votes_pb2
from votes import migrate
from votes.songids import to_key


def tables(url):
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}


def test_fresh_database_gets_every_migration_once(postgres_url):
    newest = len(migrate.available())
    assert newest >= 2
    assert migrate.migrate(postgres_url) == newest
    assert tables(postgres_url) == {"schema_migrations", "users", "songs", "votes"}
    # Running again (every start does) changes nothing.
    assert migrate.migrate(postgres_url) == newest
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in migrate.available()]


def test_replicas_starting_together_migrate_once(postgres_url):
    results, errors = [], []

    def run():
        try:
            results.append(migrate.migrate(postgres_url))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == [len(migrate.available())] * 4


def test_upgrade_from_version_1_keeps_data(postgres_url, votes_factory):
    assert migrate.migrate(postgres_url, target=1) == 1
    with psycopg.connect(postgres_url) as conn:
        with conn.transaction():
            conn.execute("INSERT INTO users (username, password_hash) VALUES ('old', 'x'), ('older', 'y')")
            conn.execute("INSERT INTO songs (model_release, song_key, title, lyrics, up, down)"
                         " VALUES ('r1', %s, 'Kept', 'kept lyrics', 2, 0), ('r1', %s, 'Also', 'a', 1, 1)",
                         (to_key(5), to_key(6)))
            conn.execute("INSERT INTO votes (user_id, model_release, song_key, vote) SELECT user_id, 'r1', %s, 1"
                         " FROM users", (to_key(5),))
            conn.execute("INSERT INTO votes (user_id, model_release, song_key, vote) VALUES"
                         " (1, 'r1', %s, 1), (2, 'r1', %s, -1)", (to_key(6), to_key(6)))
    # Starting the service upgrades the database.
    running = votes_factory()
    assert migrate.migrate(postgres_url) == len(migrate.available())
    stored = running.stub.GetStoredSong(votes_pb2.GetStoredSongRequest(song_id=5, model_release="r1"), timeout=10)
    assert (stored.title, stored.lyrics) == ("Kept", "kept lyrics")
    top = running.stub.TopSongs(votes_pb2.TopSongsRequest(model_release="r1"), timeout=10).songs
    assert [(s.song_id, s.up, s.down, s.score) for s in top] == [(5, 2, 0, 2), (6, 1, 1, 0)]
    mine = running.stub.UserVotes(votes_pb2.UserVotesRequest(user_id=1, model_release="r1"), timeout=10).votes
    assert sorted(v.song_id for v in mine) == [5, 6]
    # The old rows keep working with the new schema.
    flipped = running.stub.CastVote(votes_pb2.CastVoteRequest(
        user_id=2, song_id=6, model_release="r1", vote=votes_pb2.VOTE_UP), timeout=10).votes
    assert (flipped.up, flipped.down, flipped.score) == (2, 0, 2)


def test_failed_migration_leaves_the_previous_version(postgres_url, monkeypatch):
    good = migrate.available()
    broken = migrate.Migration(len(good) + 1, "broken", "CREATE TABLE later (x int); SELECT 1/0;")
    monkeypatch.setattr(migrate, "available", lambda: [*good, broken])
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate.migrate(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        assert migrate.current_version(conn) == len(good)
    assert "later" not in tables(postgres_url)


def test_service_is_not_serving_until_migrated(postgres_url):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from votes.server import VotesApp
    from votes.settings import Settings

    app = VotesApp(Settings.from_env({"VOTES_LISTEN": "127.0.0.1:0", "DATABASE_URL": postgres_url,
                                      "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "64",
                                      "ARGON2_PARALLELISM": "1"}))
    app.server.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            check = lambda: health.Check(health_pb2.HealthCheckRequest(  # noqa: E731
                service="billionsongs.v1.Votes"), timeout=10).status
            assert check() == health_pb2.HealthCheckResponse.NOT_SERVING
            from billionsongs.v1 import votes_pb2_grpc
            with pytest.raises(grpc.RpcError) as info:
                votes_pb2_grpc.VotesStub(channel).TopSongs(votes_pb2.TopSongsRequest(model_release="r1"), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "users" not in tables(postgres_url)
            app.prepare()
            app.server.set_serving(True)
            assert check() == health_pb2.HealthCheckResponse.SERVING
            assert "users" in tables(postgres_url)
    finally:
        app.server.server.stop(None)
        app.close()
