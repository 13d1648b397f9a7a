"""gunicorn's own log lines as the application's JSON lines.

gunicorn logs through its ``gunicorn.error`` logger with a plain-text handler of
its own: boot ("Listening at", "Booting worker"), "WORKER TIMEOUT", worker
exits, "Error handling request". ``JsonLogger`` (gunicorn's ``logger_class``)
drops those handlers and lets the records reach the root logger, which
``billionsongs.common.logs.setup_logging`` writes as JSON lines, one format for
every line of the service.

``RequestIdWorker`` (gunicorn's ``worker_class``, the gthread worker) gives every
request its request id before the application runs: the visitor's valid
``X-Request-ID``, else a new one written into the request's headers, so Flask
picks up the same id (web.app) and gunicorn's own lines about that request
("Error handling request ...") carry it too.
"""
from __future__ import annotations

import os
import re

from gunicorn import glogging
from gunicorn.workers.gthread import ThreadWorker

from billionsongs.common.logs import new_request_id, request_id_var, setup_logging

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # what web.app accepts


def configure_root_logging() -> None:
    setup_logging("web", os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))


class JsonLogger(glogging.Logger):
    """gunicorn's logger, writing through the root logger (JSON lines)."""

    def setup(self, cfg):
        super().setup(cfg)  # levels, and (re)opens what gunicorn is told to
        configure_root_logging()
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


def ensure_request_id(req) -> str:
    """The request's id: its valid X-Request-ID header, else a new one added to it."""
    values = [v for name, v in req.headers if name.upper() == "X-REQUEST-ID"]
    if values and _REQUEST_ID.match(values[0]):
        return values[0]
    request_id = new_request_id()
    req.headers = [(n, v) for n, v in req.headers if n.upper() != "X-REQUEST-ID"]
    req.headers.append(("X-REQUEST-ID", request_id))
    return request_id


class RequestIdWorker(ThreadWorker):
    """The gthread worker; every line it logs while handling a request carries
    that request's id (and none outside a request)."""

    def handle(self, conn):
        request_id_var.set("")
        try:
            return super().handle(conn)
        finally:
            request_id_var.set("")

    def handle_request(self, req, conn):
        request_id_var.set(ensure_request_id(req))
        return super().handle_request(req, conn)
