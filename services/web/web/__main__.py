"""``python -m web``: check the settings, then run the site under gunicorn exactly as

    python -m gunicorn --config python:web.gunicorn_conf "web.app:create_app()"

Every setting comes from the environment (docs/settings.md); the command line takes only
``--help``. A bad setting stops start-up with one line naming it (exit status 2)
before gunicorn starts, instead of a traceback in every worker.
"""
from __future__ import annotations

import argparse
import os
import sys

from billionsongs.common import cli
from billionsongs.common.settings import load_or_exit

PROG = "python -m web"
GUNICORN = ["-m", "gunicorn", "--config", "python:web.gunicorn_conf", "web.app:create_app()"]
SETTINGS_HELP = """settings (environment variables; docs/settings.md has them all):
  SECRET_KEY                 signs session cookies (required)
  WEB_BIND                   where gunicorn listens (0.0.0.0:8000)
  WEB_WORKERS, WEB_THREADS   processes, threads each (2, 8)
  GENERATOR_TARGET, VOTES_TARGET, REDIS_URL, SESSION_COOKIE_SECURE, SONG_S_MAXAGE,
  SONG_MAX_AGE, PUBLIC_URL, WEB_PROXY_HOPS, LOGIN_ATTEMPTS_PER_MINUTE,
  REGISTRATIONS_PER_MINUTE, STREAM_AFTER_S, GENERATION_TIMEOUT_S, LOG_LEVEL, LOG_FORMAT"""


def main(argv: list[str] | None = None) -> int:
    cli.Parser(prog=PROG, description="Billion Songs website: Flask under gunicorn.", epilog=SETTINGS_HELP,
               formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    from web.settings import WebSettings

    settings = load_or_exit("web", WebSettings.from_env)
    if not settings.bind.startswith("unix:"):
        cli.check_listen(PROG, "WEB_BIND", settings.bind)
    os.execv(sys.executable, [sys.executable, *GUNICORN])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
