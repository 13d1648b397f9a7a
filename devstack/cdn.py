"""The CDN stand-in on this machine: Debian's nginx running the very
configuration compose gives the official nginx image (deploy/nginx/), in front
of a local web. The CDN tests use it; it also shows by hand what the CDN caches:

    python -m devstack.cdn --origin 127.0.0.1:8000 --port 8080
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from devstack.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "cdn.conf.template"
_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise RuntimeError("nginx not found: install Debian's nginx (make system-deps)")
    return found


def render_template(settings: dict[str, str], template: Path = TEMPLATE) -> str:
    """What the official image's entrypoint does with envsubst: replace
    ``${NAME}`` for the names given, leave nginx's own ``$variables`` alone."""
    text = template.read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    missing = used - set(settings)
    if missing:
        raise KeyError(f"{template.name} needs {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda m: settings[m.group(1)], text)


class CdnProxy:
    """nginx with deploy/nginx/cdn.conf.template in front of ``origin`` (host:port)."""

    def __init__(self, state_dir: Path, origin: str, port: int | None = None, release_ttl: str = "1s"):
        self.state_dir = Path(state_dir)
        self.origin = origin
        self.port = port or free_port()
        self.release_ttl = release_ttl
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        state = self.state_dir
        for name in ("cache", "logs", *_TEMP_DIRS):
            (state / name).mkdir(parents=True, exist_ok=True)
        site = render_template({"WEB_ORIGIN": self.origin, "CDN_LISTEN": f"127.0.0.1:{self.port}",
                                "CDN_CACHE_DIR": str(state / "cache"), "CDN_RELEASE_TTL": self.release_ttl})
        (state / "cdn.conf").write_text(site)
        # As root nginx would switch its workers to "nobody"; keep them as us.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = "".join(f"    {name}_temp_path {state / name};\n" for name in _TEMP_DIRS)
        main = (f"{user}daemon off;\nworker_processes 1;\npid {state / 'nginx.pid'};\n"
                f"error_log {state / 'logs' / 'error.log'} warn;\n"
                "events { worker_connections 256; }\n"
                "http {\n"
                f"    access_log {state / 'logs' / 'access.log'};\n{temp}"
                f"    include {state / 'cdn.conf'};\n}}\n")
        path = state / "nginx.conf"
        path.write_text(main)
        return path

    def check(self) -> subprocess.CompletedProcess:
        """``nginx -t`` on the configuration: syntax and directives."""
        config = self.write_config()
        return subprocess.run([nginx_binary(), "-t", "-p", str(self.state_dir), "-c", str(config)],
                              capture_output=True, text=True, timeout=30)

    def start(self) -> None:
        config = self.write_config()
        # nginx logs to logs/error.log once its configuration is read; before that, to stderr
        with open(self.state_dir / "logs" / "stderr.log", "ab") as stderr:
            self.process = subprocess.Popen([nginx_binary(), "-p", str(self.state_dir), "-c", str(config)],
                                            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        wait_for_port(self.port, timeout=15, process=self.process)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> CdnProxy:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.cdn", description=__doc__.splitlines()[0])
    parser.add_argument("--origin", default="127.0.0.1:8000", help="web's host:port")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local" / "cdn")
    args = parser.parse_args(argv)
    proxy = CdnProxy(args.state_dir, args.origin, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with proxy:
        print(f"\n  CDN stand-in on {proxy.url} in front of http://{args.origin}\n  (Ctrl-C stops it)\n", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
