"""Issue 27, item 5: JSON that Python's parser accepts but nothing after it can use (a
lone surrogate escape, 8,000 levels of nesting under the 16 KiB cap) is a 400 on every
JSON route, never a 500. The routes come from the OpenAPI description and the URL map,
so a new one is covered without editing this test."""
from __future__ import annotations

import re

import psycopg
import pytest

from tests.support.hostile import api_token, register
from web.openapi import SPEC

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE = {"song_id": "42", "id_text": "42"}

SURROGATE = b'{"username": "ok\\ud83dname", "password": "a fine password", "vote": "up"}'
SURROGATE_IN_KEY = b'{"username": "someone", "password": "a fine password", "\\udc00": 1}'
SURROGATE_IN_VOTE = b'{"vote": "\\ud800"}'
DEEP = b"[" * 8000 + b"]" * 8000
DEEP_IN_OBJECT = b'{"username": ' + b"[" * 8000 + b"]" * 8000 + b', "password": "a fine password"}'
PAYLOADS = {"surrogate": SURROGATE, "surrogate-key": SURROGATE_IN_KEY, "surrogate-vote": SURROGATE_IN_VOTE,
            "deep": DEEP, "deep-in-object": DEEP_IN_OBJECT}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}|<(?:\w+:)?(\w+)>", lambda m: SAMPLE[m.group(1) or m.group(2)], path)


def json_routes() -> list[tuple[str, str]]:
    """(method, url) of every JSON route that reads a body: the OpenAPI operations with
    a requestBody."""
    return sorted((method.upper(), _url(path)) for path, operations in SPEC["paths"].items()
                  for method, operation in operations.items() if "requestBody" in operation)


def api_body_routes(app) -> set[tuple[str, str]]:
    """(method, url) of every rule under /api/ that takes a body method."""
    return {(method, _url(rule.rule)) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
            for method in rule.methods & BODY_METHODS}


def test_every_json_route_is_found(hostile_app):
    routes = set(json_routes())
    assert {("POST", "/api/register"), ("POST", "/api/login"), ("PUT", "/api/songs/42/vote")} <= routes
    # Every API route that takes a body method is in the description (the fuzzers read
    # it too); those without a requestBody ignore what is sent.
    documented = {(method.upper(), _url(path)) for path, ops in SPEC["paths"].items() for method in ops}
    assert api_body_routes(hostile_app) <= documented


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_unusable_json_is_a_400_on_every_json_route(hostile_app, hostile_backends, payload):
    assert len(PAYLOADS[payload]) <= 16 * 1024  # under the body cap: this is the parser's business
    database_url = hostile_backends[2]
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    for method, url in json_routes():
        client = hostile_app.test_client()
        register(client)  # signed in, so no route stops at 401 before reading its body
        response = client.open(url, method=method, data=PAYLOADS[payload], content_type="application/json",
                               headers={"X-CSRF-Token": api_token(client)})
        assert response.status_code == 400, (method, url, response.status_code, response.get_data()[:200])
        assert response.is_json and "error" in response.get_json()
        assert client.get("/api/session").get_json()["user"] is not None, (method, url)
    with psycopg.connect(database_url) as conn:
        # Only the accounts this test made itself; nothing from a payload.
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == before + len(json_routes())
