"""Structured (JSON lines) logs with a request id carried across services.

The request id lives in a context variable: the web front sets it per HTTP
request, the gRPC client interceptor sends it as ``x-request-id`` metadata and
the server interceptor (see grpcserver) restores it, so one id follows a
visitor's request through every service's logs.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid

REQUEST_ID_HEADER = "x-request-id"
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        extra = getattr(record, "fields", None)
        if extra:
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # json.dumps escapes \n and the other C0 controls but, with
        # ensure_ascii=False, leaves the line breaks of Unicode raw (U+0085,
        # U+2028, U+2029), which str.splitlines() and some log readers split on.
        return _UNICODE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(entry, default=str,
                                                                                  ensure_ascii=False))


_UNICODE_BREAKS = re.compile("[\u0085\u2028\u2029]")
# Every character that could end or fake a line in a text log: C0 and C1
# controls (\n, \r, NUL, ESC...), DEL, and Unicode's line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with each control character written as its Python escape
    ("\\n", "\\x00", "\\u2028"), so it stays on one line."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    """``LOG_FORMAT=text``: one line per record. Control characters in the
    message are escaped, so text from a request (a path with %0a in it) cannot
    forge a log line or write a NUL; a traceback, the formatter's own, follows
    on its lines as usual."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)  # the record may go to other handlers unchanged
        safe.message = escape_controls(record.message)
        return super().formatMessage(safe)


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once, at start-up (never at import)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(TextFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_fields(**fields) -> dict:
    """``logger.info("msg", extra=log_fields(pool=10))`` adds fields to the JSON line."""
    return {"fields": fields}
