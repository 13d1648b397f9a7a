"""Issue 27, item 6: HEAD never acts. CSRFProtect checks only POST/PUT/PATCH/DELETE, so a
view that takes both GET and POST must treat HEAD as GET; here every such route of the
URL map gets HEAD with a full form body, signed out and signed in, and nothing changes."""
from __future__ import annotations

import re

import psycopg

from tests.support.hostile import new_name, register

SAMPLE_ARGS = {"id_text": "42"}


def head_and_post_routes(app) -> list[str]:
    return sorted(re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule)
                  for rule in app.url_map.iter_rules() if {"HEAD", "POST"} <= rule.methods)


def counts(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        return (conn.execute("SELECT count(*) FROM users").fetchone()[0],
                conn.execute("SELECT count(*) FROM votes").fetchone()[0])


def form(password: str = "a fine password") -> dict:
    return {"username": new_name("head"), "password": password, "password2": password, "vote": "up",
            "old_password": password, "new_password": password + "2", "new_password2": password + "2",
            "confirm": "y", "next": "/"}


def test_head_with_a_form_body_changes_nothing_on_any_form_route(hostile_app, hostile_backends):
    routes = head_and_post_routes(hostile_app)
    assert {"/auth/register", "/auth/login", "/song/42/vote"} <= set(routes), routes
    database_url = hostile_backends[2]
    for url in routes:
        visitor = hostile_app.test_client()
        before = counts(database_url)
        response = visitor.head(url, data=form())
        assert response.status_code < 500, (url, response.status_code)
        assert counts(database_url) == before, url
        assert visitor.get("/api/session").get_json()["user"] is None, url
        member = hostile_app.test_client()
        name = register(member, password="a fine password")
        before = counts(database_url)
        response = member.head(url, data=form())
        assert response.status_code < 500, (url, response.status_code)
        assert counts(database_url) == before, url
        assert member.get("/api/session").get_json()["user"] == {"name": name}, url
