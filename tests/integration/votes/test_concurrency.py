"""Many clients voting and flipping on the same songs at once: the final counts
must equal exactly what the last acknowledged vote of each user implies."""
import random
import threading

import grpc
import psycopg

from billionsongs.v1 import votes_pb2, votes_pb2_grpc

UP, DOWN, NONE = votes_pb2.VOTE_UP, votes_pb2.VOTE_DOWN, votes_pb2.VOTE_NONE
SONGS = (1, 2**64 - 1)
USERS, OPS = 24, 25


def test_concurrent_votes_and_flips_count_exactly(votes_factory, postgres_url):
    running = votes_factory(VOTES_POOL_SIZE="8", VOTES_MAX_WORKERS="32")
    users = [running.register(f"user{i}").user_id for i in range(USERS)]
    # Several channels: separate HTTP/2 connections, like separate web workers.
    channels = [grpc.insecure_channel(running.target) for _ in range(4)]
    final: dict[tuple[int, int], int] = {}
    deleted: set[int] = set()
    barrier = threading.Barrier(USERS)
    errors = []

    def client(index: int, user_id: int):
        stub = votes_pb2_grpc.VotesStub(channels[index % len(channels)])
        rng = random.Random(index)
        try:
            barrier.wait()
            for _ in range(OPS):
                song, vote = rng.choice(SONGS), rng.choice((UP, DOWN, NONE, UP))
                stub.CastVote(votes_pb2.CastVoteRequest(
                    user_id=user_id, song_id=song, model_release="r1", vote=vote,
                    title=f"Song {song}", lyrics="la"), timeout=30)
                final[(user_id, song)] = vote
            if index % 6 == 0:  # some leave while others still vote
                stub.DeleteAccount(votes_pb2.DeleteAccountRequest(user_id=user_id, password="secret-1"), timeout=30)
                deleted.add(user_id)
        except Exception as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i, u)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for channel in channels:
        channel.close()
    assert not errors, errors[:3]

    for song in SONGS:
        live = [vote for (user, s), vote in final.items() if s == song and user not in deleted]
        expected = (live.count(UP), live.count(DOWN))
        request = votes_pb2.GetSongVotesRequest(song_id=song, model_release="r1")
        got = running.stub.GetSongVotes(request, timeout=10).votes
        assert (got.up, got.down, got.score) == (*expected, expected[0] - expected[1]), song
    # The stored counts also match the vote rows themselves.
    with psycopg.connect(postgres_url) as conn:
        mismatched = conn.execute(
            "SELECT s.song_key FROM songs s LEFT JOIN votes v USING (model_release, song_key)"
            " GROUP BY s.model_release, s.song_key, s.up, s.down"
            " HAVING s.up <> count(*) FILTER (WHERE v.vote = 1) OR s.down <> count(*) FILTER (WHERE v.vote = -1)"
        ).fetchall()
    assert mismatched == []
