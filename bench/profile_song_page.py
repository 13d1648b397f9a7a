"""Where one cached song page's time goes inside the web app, against the minimal
Flask page (bench/minimal_app.py), both called as WSGI apps in this process (no
gunicorn, no sockets: what gunicorn adds is the same for both pages).

    .venv/bin/python bench/profile_song_page.py [--requests 3000] [--profile]
    .venv/bin/python bench/profile_song_page.py --smoke   # a few requests, nothing written

The web app runs as under gunicorn: prometheus-client in multiprocess mode
(PROMETHEUS_MULTIPROC_DIR set before web.metrics is imported), JSON logs at
LOG_LEVEL (default WARNING, as bench/load.py's stack), a real Valkey server for
the song cache, a fixed model release (no generator). Prints microseconds per
request of the song page kept in memory (web/pagecache.py), of the song page
rendered by Flask (the page cache emptied before each request) and of the
minimal page; --profile adds pyinstrument profiles of both song paths
(pip install pyinstrument).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # devstack/ and bench/, run as a script from anywhere

RELEASE = "rel-profile"
SONG_ID = 1234567890123


class FixedRelease:
    """Stands in for web.clients.Clients: only the model release is asked for."""

    def model_release(self) -> str:
        return RELEASE

    def close(self) -> None:
        pass


def environ(path: str, headers: dict | None = None) -> dict:
    from werkzeug.test import EnvironBuilder
    builder = EnvironBuilder(path=path, base_url="http://127.0.0.1:8000", headers=headers or {})
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app, env: dict) -> tuple[str, list, bytes]:
    out = {}

    def start_response(status, headers, exc_info=None):
        out["status"], out["headers"] = status, headers

    body = app(dict(env), start_response)
    try:
        data = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return out["status"], out["headers"], data


def per_request_us(app, env: dict, n: int) -> float:
    call(app, env)
    begin = time.perf_counter()
    for _ in range(n):
        call(app, env)
    return (time.perf_counter() - begin) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the song page")
    parser.add_argument("--smoke", action="store_true", help="50 requests each, no profile")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.profile = 50, False

    metrics_dir = tempfile.TemporaryDirectory(prefix="profile-web-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir.name  # before web.metrics is imported
    import redis

    from bench.minimal_app import create_app as minimal_app
    from billionsongs.common.logs import setup_logging
    from billionsongs.common.songcache import SongCache
    from billionsongs.common.songs import Song
    from devstack.servers import ValkeyServer
    from web.app import create_app
    from web.settings import WebSettings
    from web.state import state

    setup_logging("web", os.environ.get("LOG_LEVEL", "WARNING"), "json")
    valkey = ValkeyServer()
    valkey.start()
    try:
        settings = WebSettings.from_env({"SECRET_KEY": "profile", "REDIS_URL": valkey.url})
        client = redis.Redis.from_url(valkey.url)
        SongCache(client).put(Song(SONG_ID, RELEASE, "A Song to Profile",
                                         "la la la, the cache is warm\n" * 24))
        app = create_app({"SETTINGS": settings, "CLIENTS": FixedRelease(), "REDIS": client})
        song_env, hello_env = environ(f"/song/{SONG_ID}"), environ("/")
        status, headers, body = call(app, song_env)
        assert status.startswith("200"), status
        assert minimal_app()(dict(hello_env), lambda *a: None)
        pages = state(app).page_cache

        def through_flask(environ, start_response):
            pages.clear()  # every request renders: the path of a page this worker has not kept yet
            return app(environ, start_response)

        flask_us = per_request_us(through_flask, song_env, args.requests)
        song_us = per_request_us(app, song_env, args.requests)
        hello_us = per_request_us(minimal_app(), hello_env, args.requests)
        print(f"song page, kept in memory      {song_us:8.1f} us/request ({len(body)} bytes)\n"
              f"song page, through Flask       {flask_us:8.1f} us/request\n"
              f"minimal Flask page             {hello_us:8.1f} us/request\n"
              f"minimal / kept song page: {hello_us / song_us:.2f}; minimal / through Flask: "
              f"{hello_us / flask_us:.2f}")
        if args.profile:
            from pyinstrument import Profiler
            for name, target in (("through Flask", through_flask), ("kept in memory", app)):
                profiler = Profiler(interval=0.0002)
                profiler.start()
                for _ in range(args.requests):
                    call(target, song_env)
                profiler.stop()
                print(f"--- song page, {name}")
                print(profiler.output_text(unicode=True, color=False, show_all=False))
    finally:
        valkey.stop()
        metrics_dir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
