"""What the hostile-input suite (tests/hostile/) shares: songs with hostile text, the
app over the real votes service, and a visitor's steps through the JSON API."""
from __future__ import annotations

import secrets

from tests.support.web_fakes import FakeGenerator

# Songs whose text is hostile: the pages must show it escaped.
MARKUP_SONG = 666
MARKUP_TITLE = '<script>alert("t")</script>'
MARKUP_LYRICS = "<img src=x onerror=alert(1)>\n' OR 1=1; DROP TABLE votes; --\n"
FAILED_SONG = 13
# A byte-level model can write any byte, NUL included, which PostgreSQL text refuses.
NUL_SONG = 7777


class HostileGenerator(FakeGenerator):
    def _song(self, song_id):
        song = super()._song(song_id)
        if song_id == MARKUP_SONG:
            song.title, song.lyrics = MARKUP_TITLE, MARKUP_LYRICS
        if song_id == NUL_SONG:
            song.title, song.lyrics = "nul\x00title", "a\x00b\n"
        return song


def make_app(hostile_backends, redis_server, **overrides):
    from web.app import create_app
    from web.settings import WebSettings
    generator_target, votes_target, _ = hostile_backends
    values = dict(bind="127.0.0.1:0", workers=1, threads=4, generator_target=generator_target,
                  votes_target=votes_target, redis_url=redis_server.url, secret_key=secrets.token_hex(16),
                  session_cookie_secure=False, song_s_maxage=2592000, song_max_age=3600, public_url="",
                  proxy_hops=0, registrations_per_minute=100000, login_attempts_per_minute=100000,
                  stream_after_s=5.0, generation_timeout_s=10.0,
                  metrics_port=0, log_level="WARNING", log_format="text")
    values.update(overrides)
    return create_app({"SETTINGS": WebSettings(**values)})


def api_token(client) -> str:
    return client.get("/api/session").get_json()["csrf_token"]


def new_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def register(client, name: str | None = None, password: str = "a fine password") -> str:
    name = name or new_name()
    response = client.post("/api/register", json={"username": name, "password": password},
                           headers={"X-CSRF-Token": api_token(client)})
    assert response.status_code == 201, response.get_data(as_text=True)
    return name
