"""``python -m votes`` as make run and the containers start it."""
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billionsongs.v1 import votes_pb2, votes_pb2_grpc
from devstack.servers import free_port

ROOT = Path(__file__).resolve().parents[3]


def run_votes(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "votes"], env={"PATH": os.environ["PATH"], **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_missing_database_url_stops_start_up_with_a_clear_message():
    process = run_votes({"VOTES_LISTEN": "127.0.0.1:0"})
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "DATABASE_URL is required" in err


def test_serves_after_migrations_counts_votes_and_stops_on_sigterm(postgres_url):
    port, metrics_port = free_port(), free_port()
    process = run_votes({"VOTES_LISTEN": f"127.0.0.1:{port}", "DATABASE_URL": postgres_url,
                         "METRICS_PORT": str(metrics_port), "ARGON2_TIME_COST": "1",
                         "ARGON2_MEMORY_COST": "64", "ARGON2_PARALLELISM": "1", "LOG_FORMAT": "json"})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            # Watch streams every status change: wait for SERVING without polling.
            statuses = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="billionsongs.v1.Votes"), timeout=60)
            for status in statuses:
                if status.status == health_pb2.HealthCheckResponse.SERVING:
                    statuses.cancel()
                    break
            stub = votes_pb2_grpc.VotesStub(channel)
            user = stub.Register(votes_pb2.RegisterRequest(username="alice", password="tulips"), timeout=10).user
            stub.CastVote(votes_pb2.CastVoteRequest(user_id=user.user_id, song_id=3, model_release="r1",
                                                    vote=votes_pb2.VOTE_UP, title="T"), timeout=10)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        assert 'votes_cast_total{vote="up"} 1.0' in metrics
        assert "votes_accounts_registered_total 1.0" in metrics
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert '"msg": "stopped"' in err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/none"])
def test_unreachable_database_fails_start_up(url):
    process = run_votes({"VOTES_LISTEN": "127.0.0.1:0", "DATABASE_URL": url})
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "connection" in err.lower()
