"""``python -m votes``: read settings, start metrics and the gRPC server, run
until SIGTERM."""
from __future__ import annotations

import sys

from billionsongs.common.logs import setup_logging
from billionsongs.common.metrics import start_metrics_server
from billionsongs.common.grpcserver import serve
from billionsongs.common.settings import load_or_exit


def main(argv: list[str] | None = None) -> int:
    from votes.server import VotesApp
    from votes.settings import Settings

    settings = load_or_exit("votes", Settings.from_env)
    setup_logging("votes", settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_port)
    app = VotesApp(settings)
    # Health stays NOT_SERVING until prepare() has applied the migrations.
    serve(app.server, ready=app.prepare, on_stop=app.close)
    return 0


if __name__ == "__main__":
    sys.exit(main())
