"""gunicorn settings, from the app's own ``WebSettings`` (one reading of the
environment, one set of defaults; a bad value is one line and exit status 2).

    billionsongs-web   # = python -m gunicorn --config python:web.gunicorn_conf "web.app:create_app()"

No ``preload_app``: each worker builds the app (and later its gRPC channels) after
the fork, because gRPC's threads do not survive ``fork``. gthread workers, so a
visitor watching a song being written holds a thread, not a whole process.

Metrics are not on the public port: the master serves every worker's numbers
(prometheus-client multiprocess mode) on ``METRICS_PORT`` (0: off), a port the
Ingress and the CDN never route, as the gRPC services serve theirs.
"""
import os
import shutil
import tempfile

from billionsongs.common.settings import load_or_exit
from web.settings import WebSettings

settings = load_or_exit("web", WebSettings.from_env)
bind = settings.bind
workers = settings.workers
threads = settings.threads
# The gthread worker, plus a request id for every request (web/serverlog.py).
worker_class = "web.serverlog.RequestIdWorker"
# For gthread workers `timeout` is a heartbeat, not a request limit: the worker's
# main loop (not the threads serving requests) tells the master it is alive about
# once a second, whatever its requests do; a worker silent this long is stuck
# (deadlocked, stopped, starved) and the master kills and replaces it. So it is
# short and does not grow with requests. How long a request may take is the
# application's business: GENERATION_TIMEOUT_S, the deadline of every generator
# call (web/settings.py, web/clients.py).
timeout = 30
graceful_timeout = 20
keepalive = 5
# Our own JSON request log (with request ids) replaces gunicorn's access log;
# gunicorn's own lines (boot, worker timeouts, errors) are JSON lines too.
accesslog = None
errorlog = "-"
loglevel = settings.log_level.lower()
logger_class = "web.serverlog.JsonLogger"
# Refuse absurd request lines and headers before Flask sees them.
limit_request_line = 8190
limit_request_fields = 100
# No shared control socket in $HOME: several stacks (tests, replicas) may run on one host,
# and the root filesystem is read-only in Kubernetes.
control_socket_disable = True


def on_starting(server):
    # One directory for every worker's metric files, fresh on each start (see web/metrics.py).
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="web-metrics-")
    else:
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def when_ready(server):
    """In the master, once it listens: /metrics of every worker on METRICS_PORT."""
    port = settings.metrics_port
    if port:
        # Not web.metrics: importing it would create the workers' metrics in the master.
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        try:
            start_http_server(port, addr="0.0.0.0", registry=registry)
        except OSError as error:  # the site serves on without its metrics, said loudly
            server.log.error("metrics NOT served: port %s: %s", port, error)
        else:
            server.log.info("metrics on port %s", port)


def post_fork(server, worker):
    from web.serverlog import configure_root_logging
    configure_root_logging()


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
