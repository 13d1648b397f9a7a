"""Issue 27, item 4 (the votes side): health answers while every handler waits on a slow
database, and calls beyond VOTES_MAX_WORKERS are refused at once with a retry hint
instead of queueing behind them."""
from __future__ import annotations

import time

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billionsongs.common.channels import retry_after_s
from billionsongs.v1 import votes_pb2

WORKERS = 8
CALLS = 12


def test_health_answers_and_the_excess_is_refused_while_every_call_waits_on_the_database(votes_factory,
                                                                                       postgres_url):
    votes = votes_factory(VOTES_MAX_WORKERS=str(WORKERS))
    user = votes.register("slowpoke")
    with psycopg.connect(postgres_url) as blocker:
        # Every vote needs the user's row: with the table locked, each call waits in
        # PostgreSQL (or for a pooled connection) and holds its handler thread.
        blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        calls = [votes.stub.CastVote.future(votes_pb2.CastVoteRequest(
            user_id=user.user_id, song_id=i, model_release="r1", vote=votes_pb2.VOTE_UP, title=f"S{i}"),
            timeout=60) for i in range(CALLS)]
        deadline = time.monotonic() + 30
        while sum(call.done() for call in calls) < CALLS - WORKERS:
            assert time.monotonic() < deadline, "the excess calls were not refused"
            time.sleep(0.01)
        refused = [call for call in calls if call.done()]
        assert {call.code() for call in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert all(retry_after_s(call) == 1.0 for call in refused)
        health = health_pb2_grpc.HealthStub(votes.channel)
        for _ in range(10):
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
        blocker.rollback()
    admitted = [call for call in calls if call not in refused]
    assert len(admitted) == WORKERS
    # Nothing admitted was lost: once the database answers, every admitted vote lands.
    assert all(call.result().votes.up == 1 for call in admitted)
