"""A PostgreSQL restart (clean or crash) while the service runs and clients
vote: the pool reconnects, calls fail cleanly (UNAVAILABLE) or succeed, and no
acknowledged vote is lost. Uses its own PostgreSQL, not the session's."""
import signal
import threading

import grpc
import psycopg
import pytest

from billionsongs.v1 import votes_pb2, votes_pb2_grpc
from devstack.servers import PostgresServer

UP = votes_pb2.VOTE_UP


@pytest.fixture
def own_postgres(tmp_path):
    server = PostgresServer(tmp_path / "pg")
    server.start()
    yield server
    server.kill()


class Voter(threading.Thread):
    """Votes up on song 1, 2, 3, ... until told to stop; remembers which
    votes were acknowledged and every status it got."""

    def __init__(self, target: str, user_id: int):
        super().__init__(daemon=True)
        self.channel = grpc.insecure_channel(target)
        self.stub = votes_pb2_grpc.VotesStub(self.channel)
        self.user_id = user_id
        self.acked: list[int] = []
        self.codes: list[grpc.StatusCode] = []
        self.stop = threading.Event()
        self.after_stop = 0  # votes to cast once told to stop: proves recovery

    def run(self):
        song, remaining = 0, 5
        while remaining > 0:
            song += 1
            try:
                self.stub.CastVote(votes_pb2.CastVoteRequest(
                    user_id=self.user_id, song_id=song, model_release="r1", vote=UP, title=f"S{song}"), timeout=20)
                self.acked.append(song)
                self.codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                self.codes.append(error.code())
            if self.stop.is_set():
                remaining -= 1
        self.channel.close()


def crash(server: PostgresServer) -> None:
    """Immediate shutdown: every backend dies at once without a checkpoint, so
    the next start runs crash recovery. (SIGKILL of the process group leaves
    backends dying after the postmaster, and a start right then refuses to
    run on their still-attached shared memory.)"""
    server.process.send_signal(signal.SIGQUIT)
    server.process.wait(30)


def test_votes_survive_postgres_restarts(own_postgres, votes_factory):
    url = own_postgres.create_database("votes")
    running = votes_factory(url, VOTES_POOL_SIZE="4")
    users = [running.register(f"user{i}").user_id for i in range(3)]
    voters = [Voter(running.target, user) for user in users]
    for voter in voters:
        voter.start()
    try:
        own_postgres.restart()  # fast shutdown: sessions are terminated mid-work

        crash(own_postgres)
        # While it is down, a call with a short deadline fails cleanly in time.
        with pytest.raises(grpc.RpcError) as info:
            running.stub.TopSongs(votes_pb2.TopSongsRequest(model_release="r1"), timeout=1.5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "database unavailable" in info.value.details()
        own_postgres.start()
    finally:
        for voter in voters:
            voter.stop.set()
        for voter in voters:
            voter.join(60)

    for voter in voters:
        assert set(voter.codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, voter.codes
        # Casting resumed after the database came back.
        assert voter.codes[-5:] == [grpc.StatusCode.OK] * 5
        mine = set()
        token = ""
        while True:
            page = running.stub.UserVotes(votes_pb2.UserVotesRequest(
                user_id=voter.user_id, model_release="r1", limit=1000, page_token=token), timeout=10)
            mine |= {v.song_id for v in page.votes}
            token = page.next_page_token
            if not token:
                break
        assert set(voter.acked) <= mine, "an acknowledged vote was lost"
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM songs s WHERE up <> (SELECT count(*) FROM votes v"
            " WHERE v.model_release = s.model_release AND v.song_key = s.song_key AND v.vote = 1)"
        ).fetchone()[0] == 0
