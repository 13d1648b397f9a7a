"""``python -m votes``: read settings, start metrics and the gRPC server, run
until SIGTERM. Every setting comes from the environment (docs/settings.md); the
command line takes only ``--help``. A bad setting stops start-up with one line
naming it (exit status 2); a database that cannot be reached, with one line
naming DATABASE_URL (exit status 1)."""
from __future__ import annotations

import sys

from billionsongs.common import cli
from billionsongs.common.grpcserver import serve
from billionsongs.common.logs import setup_logging
from billionsongs.common.metrics import start_metrics_server
from billionsongs.common.settings import load_or_exit

PROG = "python -m votes"
SETTINGS_HELP = """settings (environment variables):
  DATABASE_URL          postgresql://user:pass@host:port/db (required)
  VOTES_LISTEN          gRPC address (default 0.0.0.0:50052)
  VOTES_POOL_SIZE       PostgreSQL connections (default 10)
  VOTES_MAX_WORKERS     gRPC worker threads (default 32)
  ARGON2_TIME_COST, ARGON2_MEMORY_COST (KiB), ARGON2_PARALLELISM
                        argon2id parameters (default 3, 65536, 4)
  ARGON2_MEMORY_BUDGET_MIB
                        memory all running hashes may hold (default 0: half
                        of the container's memory limit)
  METRICS_PORT          Prometheus /metrics port (default 0: off)
  LOG_LEVEL, LOG_FORMAT INFO, json"""


def parse_args(argv: list[str] | None) -> None:
    import argparse
    parser = cli.Parser(prog=PROG, description="Billion Songs votes service: accounts and votes over gRPC, "
                        "on PostgreSQL. Runs until SIGTERM.", epilog=SETTINGS_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    import psycopg

    from votes.server import VotesApp
    from votes.settings import Settings

    settings = load_or_exit("votes", Settings.from_env)
    cli.check_listen(PROG, "VOTES_LISTEN", settings.listen)
    setup_logging("votes", settings.log_level, settings.log_format)
    try:
        start_metrics_server(settings.metrics_port)
    except OSError as e:
        raise cli.fail(PROG, f"METRICS_PORT={settings.metrics_port}: {e}") from None
    try:
        app = VotesApp(settings)
    except (OSError, RuntimeError) as e:
        raise cli.fail(PROG, f"VOTES_LISTEN={settings.listen}: {e}") from None
    # Health stays NOT_SERVING until prepare() has applied the migrations.
    try:
        serve(app.server, ready=app.prepare, on_stop=app.close)
    except psycopg.OperationalError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"{PROG}: error: DATABASE_URL: {first}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
