"""Logs keep one record per line whatever text a request put in the message."""
import io
import json
import logging

import pytest

from billionsongs.common.logs import JsonFormatter, TextFormatter

FORGED = "GET /song/x\n2026-11-30 09:99:99,000 web ERROR forged\r\x00\x1b[31m\u2028\u0085end"


def emit(formatter: logging.Formatter, message: str, *args) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info(message, *args)
    return out.getvalue()


@pytest.mark.parametrize("as_argument", [False, True])
def test_a_text_log_line_cannot_be_forged(as_argument):
    text = emit(TextFormatter("%(levelname)s %(name)s: %(message)s"), *(("%s", FORGED) if as_argument else (FORGED,)))
    assert text.count("\n") == 1 and "\x00" not in text and "\x1b" not in text and "\u2028" not in text
    assert text == ("INFO test.logs: GET /song/x\\n2026-11-30 09:99:99,000 web ERROR forged\\r\\x00\\x1b[31m"
                    "\\u2028\\x85end\n")


def test_a_json_log_line_cannot_be_split():
    text = emit(JsonFormatter("web"), FORGED)
    assert len(text.splitlines()) == 1  # splitlines() also splits on U+2028 and U+0085
    assert json.loads(text)["msg"] == FORGED  # and the message is intact


def test_tracebacks_still_follow_a_text_record():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter("%(message)s"))
    logger = logging.getLogger("test.logs.exc")
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed\nhere")
    lines = out.getvalue().splitlines()
    assert lines[0] == "failed\\nhere" and lines[1].startswith("Traceback") and "ValueError: boom" in lines[-1]
