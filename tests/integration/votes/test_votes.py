"""Votes, counts, Top N, a user's votes and stored songs, over real gRPC and PostgreSQL."""
import grpc
import pytest

from billionsongs.v1 import votes_pb2

UP, DOWN, NONE = votes_pb2.VOTE_UP, votes_pb2.VOTE_DOWN, votes_pb2.VOTE_NONE
MAX_ID = 2**64 - 1


def rpc_error(call):
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def song_votes(votes, song_id, user_id=0, release="r1"):
    return votes.stub.GetSongVotes(votes_pb2.GetSongVotesRequest(
        song_id=song_id, model_release=release, user_id=user_id), timeout=10).votes


def test_vote_is_idempotent_flips_and_withdraws(votes):
    alice = votes.register("alice").user_id
    v = votes.vote(alice, 42, UP)
    assert (v.song_id, v.model_release, v.up, v.down, v.score, v.mine) == (42, "r1", 1, 0, 1, UP)
    v = votes.vote(alice, 42, UP)
    assert (v.up, v.down, v.mine) == (1, 0, UP)
    v = votes.vote(alice, 42, DOWN)
    assert (v.up, v.down, v.score, v.mine) == (0, 1, -1, DOWN)
    v = votes.vote(alice, 42, NONE)
    assert (v.up, v.down, v.mine) == (0, 0, NONE)
    v = votes.vote(alice, 42, NONE)
    assert (v.up, v.down, v.mine) == (0, 0, NONE)


def test_song_votes_show_the_callers_own_vote(votes):
    alice, bob = votes.register("alice").user_id, votes.register("bob").user_id
    votes.vote(alice, 7, UP)
    votes.vote(bob, 7, DOWN)
    assert song_votes(votes, 7, alice).mine == UP
    assert song_votes(votes, 7, bob).mine == DOWN
    signed_out = song_votes(votes, 7)
    assert (signed_out.up, signed_out.down, signed_out.score, signed_out.mine) == (1, 1, 0, NONE)
    never = song_votes(votes, 8, alice)
    assert (never.up, never.down, never.mine) == (0, 0, NONE)


def test_votes_belong_to_a_model_release(votes):
    alice = votes.register("alice").user_id
    votes.vote(alice, 7, UP, release="r1")
    fresh = song_votes(votes, 7, alice, release="r2")
    assert (fresh.up, fresh.mine) == (0, NONE)
    assert not votes.stub.TopSongs(votes_pb2.TopSongsRequest(model_release="r2"), timeout=10).songs


def test_first_vote_stores_the_song_durably(votes):
    alice, bob = votes.register("alice").user_id, votes.register("bob").user_id
    code, _ = rpc_error(lambda: votes.stub.GetStoredSong(
        votes_pb2.GetStoredSongRequest(song_id=MAX_ID, model_release="r1"), timeout=10))
    assert code == grpc.StatusCode.NOT_FOUND
    votes.vote(alice, MAX_ID, UP, title="Last Song", lyrics="la la\nlast")
    # A later voter's text does not replace the stored one.
    votes.vote(bob, MAX_ID, DOWN, title="Other", lyrics="other")
    stored = votes.stub.GetStoredSong(votes_pb2.GetStoredSongRequest(song_id=MAX_ID, model_release="r1"), timeout=10)
    assert (stored.song_id, stored.title, stored.lyrics, stored.model_release) == (
        MAX_ID, "Last Song", "la la\nlast", "r1")
    # Withdrawing every vote keeps the stored copy.
    votes.vote(alice, MAX_ID, NONE)
    votes.vote(bob, MAX_ID, NONE)
    assert votes.stub.GetStoredSong(votes_pb2.GetStoredSongRequest(
        song_id=MAX_ID, model_release="r1"), timeout=10).title == "Last Song"


def test_first_vote_needs_a_title(votes):
    alice = votes.register("alice").user_id
    code, details = rpc_error(lambda: votes.stub.CastVote(votes_pb2.CastVoteRequest(
        user_id=alice, song_id=5, model_release="r1", vote=UP), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "title is required" in details
    votes.vote(alice, 5, UP)
    # Once stored, later votes need not send the text again.
    bob = votes.register("bob").user_id
    v = votes.stub.CastVote(votes_pb2.CastVoteRequest(
        user_id=bob, song_id=5, model_release="r1", vote=UP), timeout=10).votes
    assert v.up == 2


def test_top_songs_by_score_with_deterministic_ties(votes):
    users = [votes.register(f"user{i}").user_id for i in range(4)]
    # song: (ups, downs) -> scores 3-0=3, 2-0=2, 3-1=2, 1-0=1 (x2, tie on score and up), 0-1=-1
    plan = {10: (3, 0), 20: (2, 0), 30: (3, 1), MAX_ID: (1, 0), 0: (1, 0), 50: (0, 1)}
    for song, (ups, downs) in plan.items():
        for i in range(ups):
            votes.vote(users[i], song, UP)
        for i in range(downs):
            votes.vote(users[3 - i], song, DOWN)
    top = votes.stub.TopSongs(votes_pb2.TopSongsRequest(model_release="r1"), timeout=10).songs
    assert [(s.song_id, s.score, s.up, s.down) for s in top] == [
        (10, 3, 3, 0), (30, 2, 3, 1), (20, 2, 2, 0), (0, 1, 1, 0), (MAX_ID, 1, 1, 0), (50, -1, 0, 1)]
    assert top[0].title == "Song 10"
    limited = votes.stub.TopSongs(votes_pb2.TopSongsRequest(model_release="r1", limit=2), timeout=10).songs
    assert [s.song_id for s in limited] == [10, 30]


def test_user_votes_newest_first_in_pages(votes):
    alice, bob = votes.register("alice").user_id, votes.register("bob").user_id
    for song in range(1, 8):
        votes.vote(alice, song, UP if song % 2 else DOWN)
    votes.vote(bob, 100, UP)
    votes.vote(alice, 2, UP)  # a flip makes it the newest
    votes.vote(alice, 3, NONE)  # withdrawn: gone from the list
    seen, token, pages = [], "", 0
    while True:
        page = votes.stub.UserVotes(votes_pb2.UserVotesRequest(
            user_id=alice, model_release="r1", limit=2, page_token=token), timeout=10)
        seen += [(v.song_id, v.vote, v.title) for v in page.votes]
        times = [v.voted_at_us for v in page.votes]
        assert times == sorted(times, reverse=True)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert [s for s, _, _ in seen] == [2, 7, 6, 5, 4, 1]
    assert seen[0] == (2, UP, "Song 2") and seen[2] == (6, DOWN, "Song 6")
    assert pages == 3
    everything = votes.stub.UserVotes(votes_pb2.UserVotesRequest(user_id=alice, model_release="r1"), timeout=10)
    assert len(everything.votes) == 6 and not everything.next_page_token


def test_user_votes_tie_on_time_are_ordered_by_song(votes, postgres_url):
    import psycopg
    alice = votes.register("alice").user_id
    for song in (1, 2, 3):
        votes.vote(alice, song, UP)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE votes SET voted_at = '2026-01-01T00:00:00Z'")
    first = votes.stub.UserVotes(votes_pb2.UserVotesRequest(user_id=alice, model_release="r1", limit=2), timeout=10)
    rest = votes.stub.UserVotes(votes_pb2.UserVotesRequest(
        user_id=alice, model_release="r1", limit=2, page_token=first.next_page_token), timeout=10)
    assert [v.song_id for v in first.votes] + [v.song_id for v in rest.votes] == [3, 2, 1]
