"""``python -m pregen``: read settings, build the clients, run the worker until
SIGTERM/SIGINT."""
from __future__ import annotations

import logging
import signal
import sys

import redis

from billionsongs.common.channels import make_channel
from billionsongs.common.logs import setup_logging
from billionsongs.common.metrics import start_metrics_server
from billionsongs.common.settings import load_or_exit

from pregen.clients import GeneratorClient, VotesClient
from pregen.settings import Settings
from pregen.worker import Worker

log = logging.getLogger("pregen")


def main() -> int:
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
    start_metrics_server(settings.metrics_port)
    try:
        worker.run()
    finally:
        generator_channel.close()
        votes_channel.close()
        redis_client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
