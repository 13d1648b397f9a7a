"""What StrictJSONProvider refuses: lone surrogates anywhere, nesting past MAX_DEPTH,
nesting that would exhaust the parser's recursion."""
import pytest
from flask import Flask

from web.jsonbody import MAX_DEPTH, StrictJSONProvider


@pytest.fixture
def provider():
    return StrictJSONProvider(Flask(__name__))


@pytest.mark.parametrize("text", ['"\\ud83d"', '{"\\udc00": 1}', '[1, ["ok", "\\ud800x"]]', '{"a": {"b": "\\udfff"}}',
                                  "[" * 8000 + "]" * 8000, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)])
def test_refused_as_malformed(provider, text):
    with pytest.raises(ValueError):
        provider.loads(text)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("text, value", [('"\\ud83d\\ude00"', "😀"), ('{"vote": null}', {"vote": None}),
                                         ("[" * MAX_DEPTH + "]" * MAX_DEPTH, nested(MAX_DEPTH))])
def test_accepted(provider, text, value):
    assert provider.loads(text) == value
