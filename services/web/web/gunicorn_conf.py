"""gunicorn settings, from the same environment variables as the app.

    python -m gunicorn --config python:web.gunicorn_conf "web.app:create_app()"

No ``preload_app``: each worker builds the app (and later its gRPC channels) after
the fork, because gRPC's threads do not survive ``fork``. gthread workers, so a
visitor watching a song being written holds a thread, not a whole process.
"""
import os
import shutil
import tempfile

from billionsongs.common.logs import setup_logging

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
worker_class = "gthread"
# A streamed song may take up to GENERATION_TIMEOUT_S; the worker must not be killed meanwhile.
timeout = int(float(os.environ.get("GENERATION_TIMEOUT_S", "120"))) + 30
graceful_timeout = 20
keepalive = 5
# Our own JSON request log (with request ids) replaces gunicorn's access log.
accesslog = None
# Refuse absurd request lines and headers before Flask sees them.
limit_request_line = 8190
limit_request_fields = 100
# No shared control socket in $HOME: several stacks (tests, replicas) may run on one host,
# and the root filesystem is read-only in Kubernetes.
control_socket_disable = True


def on_starting(server):
    setup_logging("web", os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    # One directory for every worker's metric files, fresh on each start (see web/metrics.py).
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="web-metrics-")
    else:
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def post_fork(server, worker):
    setup_logging("web", os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
