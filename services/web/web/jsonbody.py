"""Request bodies in JSON that the rest of the site can use as they are.

Python's ``json`` accepts two things that later fail far from the parser, as 500s:
a lone surrogate escape (``"\\ud83d"`` decodes to a str that no UTF-8 encoder takes:
not protobuf, not Redis, not a log line), and nesting deep enough to raise
RecursionError (8,000 brackets fit in the 16 KiB body cap). ``StrictJSONProvider``
refuses both as malformed JSON (ValueError), which ``request.get_json(silent=True)``
turns into None and every JSON route into a 400.
"""
from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

# The API's bodies are flat objects; a little room for future ones, far from recursion.
MAX_DEPTH = 32


def check_value(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """ValueError if ``value`` (decoded JSON) nests deeper than ``max_depth`` or holds
    a string (key or value) that is not valid Unicode text (a lone surrogate)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("JSON string holds a lone surrogate escape; not Unicode text") from None
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise ValueError(f"JSON nests deeper than {max_depth} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that ``loads`` raises ValueError for what check_value refuses
    and for input nested deep enough to exhaust the parser's recursion."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nests deeper than {MAX_DEPTH} levels") from None
        check_value(value)
        return value
