"""Bounded load against the whole stack on 127.0.0.1, for a fixed time per phase.

    .venv/bin/python -m bench.load [--seconds 10] [--connections 8] [--out bench/results/load.json]
    .venv/bin/python bench/load.py --smoke   # 1 s phases, 2 connections, results thrown away (make test)

Starts the stack as `make run` does (devstack.launcher.Stack, free ports, a tiny
random model unless --model-dir), plus a minimal Flask page under the web
service's own gunicorn settings. Phases:
  1. wrk on one cached song page, then wrk on the minimal page (same connections,
     same time, same run): throughput and p50/p99 of each, and their ratio;
  2. mixed traffic (bench/traffic.py: Make Random + the song it lands on, cached
     song pages, votes with real accounts and CSRF) from Python threads.
Prints a table and writes JSON. Needs `wrk` (Debian package).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/load.py`: the repository root, not bench/, on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.traffic import (
    ALLOWED,
    Account,
    Ledger,
    Recorder,
    cached_reader,
    get,
    percentile,
    random_visitor,
    session,
    votable_songs,
    voter,
)
from devstack.launcher import ROOT, Ports, Stack, base_env, service_specs
from devstack.servers import free_port, wait_for_port

STACK_ENV = {
    "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING",
    "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "1024", "ARGON2_PARALLELISM": "1",
    "GENERATOR_WORKERS": "1", "GENERATOR_THREADS": "1", "GENERATOR_MAX_NEW_TOKENS": "128",
    "POOL_TARGET_SIZE": "50", "LOGIN_ATTEMPTS_PER_MINUTE": "1000", "REGISTRATIONS_PER_MINUTE": "1000",
}


def wrk(url: str, seconds: int, connections: int, threads: int = 2) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "--timeout", "10s", url], check=True, capture_output=True, text=True).stdout

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"url": url, "seconds": seconds, "connections": connections, "requests": requests,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": ms(latency["50"]), "p99_ms": ms(latency["99"]),
            "errors": (int(errors.group(1)) if errors else 0) + (sum(map(int, socket.groups())) if socket else 0)}


def minimal_site(ports: Ports, env: dict) -> tuple[subprocess.Popen, str]:
    """The minimal page under the exact gunicorn command and settings of web (the
    command billionsongs-web runs, web.__main__.GUNICORN, with the minimal app)."""
    from web.__main__ import GUNICORN
    port = free_port()
    spec = next(s for s in service_specs(ports, "", "", Path("."), "x") if s.name == "web")
    argv = [sys.executable, *GUNICORN[:-1], "bench.minimal_app:create_app()"]
    # web's settings (the configuration reads WebSettings), on a port of its own, no metrics
    env = {**base_env(), **spec.env, **env, "WEB_BIND": f"127.0.0.1:{port}", "METRICS_PORT": "0"}
    process = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, 60, process=process)
    return process, f"http://127.0.0.1:{port}/"


def mixed(base: str, seconds: float, songs: list[int]) -> dict:
    recorder, ledger, stop, seen = Recorder(), Ledger(), threading.Event(), []
    tag = f"{random.randrange(10 ** 6):06d}"
    accounts = [Account(base, f"bench{i}-{tag}", f"bench-pass-{i}") for i in range(4)]
    for account in accounts:
        account.register()
    threads = [threading.Thread(target=voter, args=(a, songs, ledger, recorder, stop, random.Random(i)))
               for i, a in enumerate(accounts)]
    threads += [threading.Thread(target=random_visitor, args=(base, seen, recorder, stop)) for _ in range(2)]
    threads += [threading.Thread(target=cached_reader, args=(base, songs, recorder, stop, random.Random(9 + i)))
                for i in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)  # the fixed length of the phase (not synchronisation)
    stop.set()
    for thread in threads:
        thread.join(60)
    elapsed = time.perf_counter() - started
    samples = recorder.snapshot()
    result = {"seconds": round(elapsed, 1), "requests": len(samples), "rps": round(len(samples) / elapsed, 1),
              "errors": sum(s.status not in ALLOWED for s in samples), "votes_acknowledged": ledger.acks,
              "by_kind": {},
              "error_examples": [f"{s.kind} {s.status} {s.error[:160]}"
                                 for s in samples if s.status not in ALLOWED][:5]}
    for kind in sorted({s.kind for s in samples}):
        times = [s.seconds * 1000 for s in samples if s.kind == kind]
        result["by_kind"][kind] = {"requests": len(times), "rps": round(len(times) / elapsed, 1),
                                   "p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2),
                                   "errors": sum(s.status not in ALLOWED for s in samples if s.kind == kind)}
    return result


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def at_least(minimum: int):
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {minimum}")
        return int(text)
    parse.__name__ = "whole number"
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=at_least(1), default=10, help="length of each phase (default 10)")
    parser.add_argument("--connections", type=at_least(1), default=8, help="wrk connections (default 8)")
    parser.add_argument("--model-dir", type=Path, help="a model directory (default: a tiny random GPT-2)")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default bench/results/load.json)")
    parser.add_argument("--smoke", action="store_true",
                        help="a check that the bench still runs: 1 s phases, 2 connections, 3 songs; "
                             "results go to a temporary directory unless --out")
    args = parser.parse_args(argv)
    smoke_dir = None
    if args.smoke:
        args.seconds, args.connections = 1, 2
        if args.out is None:
            smoke_dir = tempfile.TemporaryDirectory(prefix="billionsongs-load-smoke-")
            args.out = Path(smoke_dir.name) / "load.json"
    elif args.out is None:
        args.out = ROOT / "bench" / "results" / "load.json"
    try:
        return run(args)
    finally:
        if smoke_dir is not None:
            smoke_dir.cleanup()


def run(args) -> int:
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="billionsongs-load-"))
    work.chmod(0o755)
    model_dir = args.model_dir
    if model_dir is None:
        from training.randommodel import make_random_model
        model_dir = make_random_model(work / "model", n_layer=2, n_head=2, n_embd=64, n_positions=256,
                                      vocab_size=512, end_bias=0.3)
    ports = Ports(web=free_port(), generator=free_port(), votes=free_port(), generator_metrics=free_port(),
                  votes_metrics=free_port(), pregen_metrics=free_port(), web_metrics=free_port())
    stack = Stack(work / "state", ports, model_dir, env=STACK_ENV, log_dir=work / "logs")
    minimal = None
    try:
        stack.start()
        s = session()
        deadline = time.monotonic() + 120
        while get(s, f"{stack.url}/readyz").status_code != 200:  # generator warm, votes and Redis up
            if time.monotonic() > deadline:
                sys.exit("the stack did not become ready")
            time.sleep(0.2)
        songs = votable_songs(stack.url, 3 if args.smoke else 20)
        get(s, f"{stack.url}/song/{songs[0]}")  # the page itself cached too
        minimal, minimal_url = minimal_site(ports, STACK_ENV)
        threads = min(2, args.connections)
        song_page = wrk(f"{stack.url}/song/{songs[0]}", args.seconds, args.connections, threads)
        flask_page = wrk(minimal_url, args.seconds, args.connections, threads)
        mix = mixed(stack.url, args.seconds, songs)
    finally:
        if minimal:
            minimal.terminate()
            minimal.wait(20)
        stack.stop()
        if os.environ.get("KEEP_LOAD_DIR"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    web = next(s for s in service_specs(ports, "", "", Path("."), "x") if s.name == "web")
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()},
        "gunicorn": {"command": " ".join(web.argv[1:]), "workers": int(os.environ.get("WEB_WORKERS", 2)),
                     "threads": int(os.environ.get("WEB_THREADS", 8)), "worker_class": "gthread"},
        "model": "tiny random GPT-2 (2 layers, 64 wide)" if args.model_dir is None else str(args.model_dir),
        "cached_song_page": song_page, "minimal_flask_page": flask_page,
        "cached_vs_minimal": round(song_page["rps"] / flask_page["rps"], 3),
        "mixed": mix,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'phase':<28}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, row in (("cached song page (wrk)", song_page), ("minimal Flask page (wrk)", flask_page)):
        print(f"{name:<28}{row['requests']:>10}{row['rps']:>10.1f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
              f"{row['errors']:>8}")
    for kind, row in mix["by_kind"].items():
        print(f"{'mixed: ' + kind:<28}{row['requests']:>10}{row['rps']:>10.1f}{row['p50_ms']:>10.2f}"
              f"{row['p99_ms']:>10.2f}{row['errors']:>8}")
    print(f"{'mixed: all':<28}{mix['requests']:>10}{mix['rps']:>10.1f}{'':>10}{'':>10}{mix['errors']:>8}")
    print(f"\ncached song page / minimal page throughput: {result['cached_vs_minimal']:.2f}; "
          f"votes acknowledged: {mix['votes_acknowledged']}; written to {args.out}")
    return 0 if mix["errors"] == 0 and song_page["errors"] == 0 and flask_page["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
