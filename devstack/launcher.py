"""Start and supervise the local stack: PostgreSQL and the key-value server
(Valkey) as real child servers, then every service through the same entry point
its container uses (the console scripts ``billionsongs-<service>``, installed
into the venv beside this Python by ``make``), with the same
environment variable names as docker-compose and Kubernetes.

A service or server that dies is restarted (with back-off): PostgreSQL through
its own crash recovery from its write-ahead log (it runs with fsync,
synchronous_commit and full_page_writes on), Valkey empty (it holds only what
can be rebuilt). Ctrl-C or SIGTERM stops every service in reverse order, then
the servers.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.servers import PostgresServer, ValkeyServer, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
# The services' console scripts (pyproject.toml of each), beside the running Python.
BIN = Path(sys.executable).parent

log = logging.getLogger("devstack")


@dataclass
class Ports:
    web: int = 8000
    generator: int = 50051
    votes: int = 50052
    generator_metrics: int = 9101
    votes_metrics: int = 9102
    pregen_metrics: int = 9103
    web_metrics: int = 9104  # web's /metrics, off the public port (gunicorn master)
    postgres: int = 0  # 0: a free port
    redis: int = 0


@dataclass
class ServiceSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int | None = None  # waited for before the next service starts
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LOG_FORMAT", "text")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Until ``url`` answers 200 (or the process dies, or time is up)."""
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def default_model_dir() -> Path:
    return ROOT / "models" / "billionsongs-smollm2"


def service_specs(ports: Ports, postgres_url: str, redis_url: str,
                  model_dir: Path, secret_key: str) -> list[ServiceSpec]:
    generator_target = f"127.0.0.1:{ports.generator}"
    votes_target = f"127.0.0.1:{ports.votes}"
    return [
        ServiceSpec("generator", [str(BIN / "billionsongs-generator"), "serve"], {
            "GENERATOR_LISTEN": f"127.0.0.1:{ports.generator}",
            "MODEL_DIR": str(model_dir),
            # A laptop CPU: every step runs all rows (fixed shapes keep songs
            # batch-invariant). Measured with the bundled 135M model on 2 cores
            # (docs/benchmarks.md): a step of 16 rows costs about 100 ms against
            # 38 ms for 1, so 16 rows fill the pool ~6x faster per second than 1;
            # 4 of them stay free of pregeneration, so a visitor's new song starts
            # at the next step instead of behind pooled songs of 200+ tokens.
            "GENERATOR_MAX_BATCH": os.environ.get("GENERATOR_MAX_BATCH", "16"),
            "GENERATOR_URGENT_ROWS": os.environ.get("GENERATOR_URGENT_ROWS", "4"),
            "METRICS_PORT": str(ports.generator_metrics),
        }, port=ports.generator),
        ServiceSpec("votes", [str(BIN / "billionsongs-votes")], {
            "VOTES_LISTEN": f"127.0.0.1:{ports.votes}",
            "DATABASE_URL": postgres_url,
            "METRICS_PORT": str(ports.votes_metrics),
        }, port=ports.votes),
        ServiceSpec("pregen", [str(BIN / "billionsongs-pregen")], {
            "GENERATOR_TARGET": generator_target,
            "VOTES_TARGET": votes_target,
            "REDIS_URL": redis_url,
            "METRICS_PORT": str(ports.pregen_metrics),
        }),
        ServiceSpec("web", [str(BIN / "billionsongs-web")], {
            "WEB_BIND": f"127.0.0.1:{ports.web}",
            "GENERATOR_TARGET": generator_target,
            "VOTES_TARGET": votes_target,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secret_key,
            "METRICS_PORT": str(ports.web_metrics),
        }, port=ports.web),
    ]


def ensure_model(model_dir: Path, state_dir: Path) -> Path:
    """``model_dir`` when it holds a model (a save_pretrained directory or a
    LoRA adapter); else a small random GPT-2 made once under ``state_dir``
    (``billionsongs-random-model``), said plainly."""
    if (model_dir / "config.json").exists():
        return model_dir
    if (model_dir / "adapter_config.json").exists():
        return model_dir  # its base: `make run` runs `make base-model` first; the generator names a missing one
    random_dir = state_dir / "random-model"
    log.warning("NO TRAINED MODEL at %s: the generator uses a RANDOM model (%s); its songs are noise. "
                "Train one (docs/model.md) or set MODEL_DIR.", model_dir, random_dir)
    if not (random_dir / "config.json").exists():
        env = base_env()
        subprocess.run([str(BIN / "billionsongs-random-model"), str(random_dir)],
                       env=env, cwd=ROOT, check=True)
    return random_dir


class Stack:
    """The running stack; also used by the end-to-end and fault tests."""

    def __init__(self, state_dir: Path, ports: Ports | None = None, model_dir: Path | None = None,
                 env: dict[str, str] | None = None, restart: bool = True, log_dir: Path | None = None,
                 durable: bool = True):
        self.state_dir = Path(state_dir)
        self.ports = ports or Ports()
        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.extra_env = env or {}
        self.restart = restart
        # None: services log to our own stderr; else each appends to log_dir/<name>.log
        self.log_dir = Path(log_dir) if log_dir else None
        # durable=False only where a test fixture asks for speed over crash safety.
        self.postgres = PostgresServer(self.state_dir / "postgres", port=self.ports.postgres or None,
                                       durable=durable)
        self.redis = ValkeyServer(port=self.ports.redis or None)  # the key-value server
        self.services: list[ServiceSpec] = []
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()
        self._servers_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.web}"

    def service(self, name: str) -> ServiceSpec:
        return next(s for s in self.services if s.name == name)

    def _secret_key(self) -> str:
        path = self.state_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.redis.start()
        log.info("postgres on %s, valkey on %s", self.postgres.url, self.redis.url)
        model_dir = ensure_model(self.model_dir, self.state_dir)
        self.services = service_specs(self.ports, self.postgres.url, self.redis.url, model_dir,
                                      self._secret_key())
        for spec in self.services:
            spec.env = {**base_env(), **spec.env, **self.extra_env}
            self._spawn(spec)
            if spec.port:
                wait_for_port(spec.port, timeout=300, process=spec.process)
            if spec.name == "web":
                # gunicorn listens before its workers have built the app: wait until one answers.
                wait_for_http(f"http://127.0.0.1:{spec.port}/healthz", timeout=60, process=spec.process)
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def _spawn(self, spec: ServiceSpec) -> None:
        log.info("starting %s: %s", spec.name, " ".join(spec.argv[1:]))
        output = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{spec.name}.log", "ab")
        try:
            spec.process = subprocess.Popen(spec.argv, env=spec.env, cwd=ROOT, start_new_session=True,
                                            stdout=output, stderr=subprocess.STDOUT if output else None)
        finally:
            if output:
                output.close()
        spec.started_at = time.monotonic()

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            if self.restart:
                self._supervise_servers()
            with self._lock:
                for spec in self.services:
                    if spec.process is None or spec.process.poll() is None or not self.restart:
                        continue
                    # back off when a service keeps dying right after start
                    delay = min(30.0, 0.5 * 2 ** min(spec.restarts, 6))
                    if time.monotonic() - spec.started_at < delay:
                        continue
                    log.warning("%s exited with %s; restarting", spec.name, spec.process.returncode)
                    spec.restarts += 1
                    self._spawn(spec)

    def _supervise_servers(self) -> None:
        """Bring back PostgreSQL or Valkey when it died (kill -9, OOM killer):
        without them every vote would answer 503 until a person restarted the
        stack. PostgreSQL replays its write-ahead log on start (crash recovery),
        so every committed vote is there again."""
        for server in (self.postgres, self.redis):
            if not server.exited():
                continue
            delay = min(30.0, 0.5 * 2 ** min(server.restarts, 6))
            if time.monotonic() - server.started_at < delay:
                continue
            with self._servers_lock, server.lock:
                if self._stopping.is_set():
                    return
                if not server.exited():
                    continue  # restarted meanwhile, on purpose (server.restart())
                log.warning("%s exited with %s; restarting", server.name, server.process.returncode)
                server.kill()  # what is left of its process group (backends outliving the postmaster)
                try:
                    server.start(timeout=120)
                except Exception as error:  # noqa: BLE001 - tried again after the back-off
                    log.error("%s did not come back: %s; trying again", server.name, error)
                    server.kill()
                else:
                    log.info("%s is back on port %s", server.name, server.port)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a service's whole process group (fault tests)."""
        spec = self.service(name)
        if spec.process and spec.process.poll() is None:
            os.killpg(spec.process.pid, sig)

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor:
            self._supervisor.join(timeout=5)
        with self._lock:
            for spec in reversed(self.services):
                if spec.process and spec.process.poll() is None:
                    os.killpg(spec.process.pid, signal.SIGTERM)
            for spec in reversed(self.services):
                if spec.process is None:
                    continue
                try:
                    spec.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in time; killing it", spec.name)
                    os.killpg(spec.process.pid, signal.SIGKILL)
                    spec.process.wait()
        with self._servers_lock:
            self.redis.stop()
            self.postgres.stop()
        log.info("stopped")


def _stop_with_parent() -> None:
    """Get SIGTERM when the parent dies: `make run` killed with SIGTERM exits
    without passing it on, and the stack must not outlive it (Linux only)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("STACK_DIR", ROOT / ".local")),
                        help="where PostgreSQL keeps its data (default .local/)")
    parser.add_argument("--model-dir", type=Path, default=os.environ.get("MODEL_DIR") or None,
                        help="a save_pretrained GPT-2 directory (default: the bundled model)")
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("WEB_PORT", 8000)))
    parser.add_argument("--generator-port", type=int, default=int(os.environ.get("GENERATOR_PORT", 50051)))
    parser.add_argument("--votes-port", type=int, default=int(os.environ.get("VOTES_PORT", 50052)))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(levelname)s: %(message)s")

    ports = Ports(web=args.web_port, generator=args.generator_port, votes=args.votes_port)
    stack = Stack(args.state_dir, ports, args.model_dir)
    stopping = threading.Event()

    def request_stop(signum, _frame):
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    _stop_with_parent()
    try:
        stack.start()
        if any(s.name == "web" for s in stack.services):
            # Print the URL once the site can serve songs (the generator warms up first).
            try:
                wait_for_http(stack.url + "/readyz", timeout=300)
            except (TimeoutError, RuntimeError) as error:
                log.warning("the site is not ready yet (%s); it will answer 503 until it is", error)
            print(f"\n  Billion Songs is running at {stack.url}\n  (Ctrl-C stops it)\n", flush=True)
        else:
            names = ", ".join(f"{s.name} on {s.port}" for s in stack.services if s.port)
            print(f"\n  Running: {names}\n  (Ctrl-C stops it)\n", flush=True)
        stopping.wait()
    finally:
        stack.stop()
    return 0
