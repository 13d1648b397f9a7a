"""``python -m pregen``: read settings, build the clients, run the worker until
SIGTERM/SIGINT. Every setting comes from the environment (docs/settings.md); the
command line takes only ``--help``. A bad setting stops start-up with one line
naming it (exit status 2)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from billionsongs.common import cli
from billionsongs.common.settings import load_or_exit

log = logging.getLogger("pregen")
PROG = "python -m pregen"
SETTINGS_HELP = """settings (environment variables; docs/settings.md has them all):
  GENERATOR_TARGET, VOTES_TARGET   gRPC targets (127.0.0.1:50051, 127.0.0.1:50052)
  REDIS_URL                        the shared Redis (redis://127.0.0.1:6379/0)
  POOL_TARGET_SIZE, POOL_USES      ids kept in the pool, picks per id (50000, 10)
  PREGEN_BATCH                     ids per GetSongs (0: the generator's maximum)
  TOP_REFRESH_S, TOP_LIMIT, MODEL_CHECK_S, PREGEN_IDLE_S, BACKOFF_MIN_S, BACKOFF_MAX_S,
  GENERATE_TIMEOUT_S, RPC_TIMEOUT_S, LOG_EVERY_S, METRICS_PORT, LOG_LEVEL, LOG_FORMAT"""


def main(argv: list[str] | None = None) -> int:
    cli.Parser(prog=PROG, description="Billion Songs pregeneration worker: keeps the Redis pool of ready songs "
               "full. Runs until SIGTERM.", epilog=SETTINGS_HELP,
               formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    import redis

    from billionsongs.common.channels import make_channel
    from billionsongs.common.logs import setup_logging
    from billionsongs.common.metrics import start_metrics_server
    from pregen.clients import GeneratorClient, VotesClient
    from pregen.settings import Settings
    from pregen.worker import Worker

    settings = load_or_exit("pregen", Settings.from_env)
    setup_logging("pregen", settings.log_level, settings.log_format)
    # Timeouts, so a Redis that stops answering raises (and we back off)
    # instead of hanging the loop; redis-py reconnects on the next command.
    redis_client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=settings.rpc_timeout_s,
        socket_connect_timeout=settings.rpc_timeout_s, health_check_interval=30)
    generator_channel = make_channel(settings.generator_target)
    votes_channel = make_channel(settings.votes_target)
    worker = Worker(settings, redis_client,
                    GeneratorClient(generator_channel, settings.rpc_timeout_s, settings.generate_timeout_s),
                    VotesClient(votes_channel, settings.rpc_timeout_s))

    def request_stop(signum, _frame):
        log.info("signal %s received, shutting down", signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        start_metrics_server(settings.metrics_port)
    except OSError as e:
        raise cli.fail(PROG, f"METRICS_PORT={settings.metrics_port}: {e}") from None
    try:
        worker.run()
    finally:
        generator_channel.close()
        votes_channel.close()
        redis_client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
