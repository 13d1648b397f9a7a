"""The JSON API described in OpenAPI 3.0 (served at /api/openapi.json), the same
calls as the table in docs/architecture.md. The hostile-input tests fuzz the API from it."""
from __future__ import annotations

from flask import Blueprint, jsonify

from web.melody.document import SCHEMA as MELODY

bp = Blueprint("openapi", __name__)

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_VOTE = {"type": "string", "enum": ["up", "down"], "nullable": True}
_VOTES = {"type": "object", "required": ["up", "down", "score", "mine"],
          "properties": {"up": {"type": "integer"}, "down": {"type": "integer"}, "score": {"type": "integer"},
                         "mine": _VOTE}}
_USER = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
_SESSION = {"type": "object", "required": ["user", "csrf_token"],
            "properties": {"user": {**_USER, "nullable": True}, "csrf_token": {"type": "string"}}}
_CREDENTIALS = {"type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string", "maxLength": 32},
                               "password": {"type": "string", "maxLength": 256}}}
_SONG_ID = {"name": "song_id", "in": "path", "required": True,
            "description": "a uint64 in decimal; anything else is 404",
            "schema": {"type": "string", "pattern": "^[0-9]{1,20}$"}}
_CSRF = {"name": "X-CSRF-Token", "in": "header", "required": True,
         "description": "csrf_token from GET /api/session, or from the answer of POST /api/register or "
                        "/api/login, which start a fresh session (the earlier token is then stale)",
         "schema": {"type": "string"}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    reasons = {400: "bad input or a failed CSRF check", 401: "signed out, or wrong name or password",
               404: "no such song (bad or failed id)", 405: "method not allowed", 409: "user name taken",
               413: "body too large", 429: "too many sign-in or registration attempts (Retry-After)",
               503: "a backend is down; retry later"}
    return {str(code): _json(_ERROR, reasons[code]) for code in codes}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Billion Songs JSON API", "version": "1"},
    "paths": {
        "/api/songs/{song_id}": {"get": {
            "summary": "One song", "parameters": [_SONG_ID],
            "responses": {"200": _json({"type": "object", "required": ["id", "title", "lyrics", "model_release"],
                                        "properties": {k: {"type": "string"} for k in
                                                       ("id", "title", "lyrics", "model_release")}}, "the song"),
                          "304": {"description": "not modified"}, **_errors(404, 503)}}},
        "/api/songs/{song_id}/melody": {"get": {
            "summary": "The song's melody: every note with its pitch, time and syllable, and the score in ABC",
            "parameters": [_SONG_ID],
            "responses": {"200": _json(MELODY, "the melody"), "304": {"description": "not modified"},
                          **_errors(404, 503)}}},
        "/api/random": {"get": {
            "summary": "A random song id",
            "responses": {"200": _json({"type": "object", "required": ["id", "url"],
                                        "properties": {"id": {"type": "string"}, "url": {"type": "string"}}},
                                       "an id"), **_errors(503)}}},
        "/api/top": {"get": {
            "summary": "Top voted songs",
            "parameters": [{"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
            "responses": {"200": _json({"type": "object", "required": ["songs"], "properties": {"songs": {
                "type": "array", "items": {"type": "object", "required": ["id", "title", "up", "down", "score"],
                                           "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                                          "up": {"type": "integer"}, "down": {"type": "integer"},
                                                          "score": {"type": "integer"}}}}}}, "songs"),
                          **_errors(400, 503)}}},
        "/api/session": {"get": {"summary": "Who is signed in, and a CSRF token",
                                 "responses": {"200": _json(_SESSION, "the session")}}},
        "/api/register": {"post": {
            "summary": "Create an account and sign in", "parameters": [_CSRF], "requestBody": _body(_CREDENTIALS),
            "responses": {"201": _json(_SESSION, "signed in; csrf_token is the new session's token"),
                          **_errors(400, 409, 413, 429, 503)}}},
        "/api/login": {"post": {
            "summary": "Sign in", "parameters": [_CSRF], "requestBody": _body(_CREDENTIALS),
            "responses": {"200": _json(_SESSION, "signed in; csrf_token is the new session's token"),
                          **_errors(400, 401, 413, 429, 503)}}},
        "/api/logout": {"post": {
            "summary": "Sign out", "parameters": [_CSRF],
            "responses": {"204": {"description": "signed out"}, **_errors(400)}}},
        "/api/songs/{song_id}/votes": {"get": {
            "summary": "A song's votes", "parameters": [_SONG_ID],
            "responses": {"200": _json(_VOTES, "counts and the caller's vote"), **_errors(404, 503)}}},
        "/api/songs/{song_id}/vote": {"put": {
            "summary": "Vote, change or withdraw (null)", "parameters": [_SONG_ID, _CSRF],
            "requestBody": _body({"type": "object", "required": ["vote"], "properties": {"vote": _VOTE}}),
            "responses": {"200": _json(_VOTES, "counts after the vote"), **_errors(400, 401, 404, 413, 503)}}},
        "/api/me/votes": {"get": {
            "summary": "The caller's votes",
            "responses": {"200": _json({"type": "object", "required": ["votes"], "properties": {"votes": {
                "type": "array", "items": {"type": "object", "required": ["id", "title", "vote"],
                                           "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                                          "vote": _VOTE}}}}}, "votes"),
                          **_errors(401, 503)}}},
    },
}


@bp.get("/api/openapi.json")
def openapi():
    response = jsonify(SPEC)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
