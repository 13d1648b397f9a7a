"""The vote widget, Top 10 and My votes."""
from __future__ import annotations

from tests.support.web_fakes import csrf_from


def test_widget_signed_out_shows_counts_and_sign_in_link(client):
    response = client.get("/song/42/vote")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Sign in to vote" in html and "/auth/login?next=/song/42" in html
    assert 'target="_top"' in html


def test_vote_needs_sign_in(client):
    assert client.post("/song/42/vote", data={"vote": "up"}).status_code in (400, 401)


def test_vote_flow_up_flip_and_withdraw(client, auth, fakes):
    auth.register()
    page = client.get("/song/42/vote").get_data(as_text=True)
    token = csrf_from(page)
    response = client.post("/song/42/vote", data={"vote": "up", "csrf_token": token})
    assert response.status_code == 303
    html = client.get("/song/42/vote").get_data(as_text=True)
    assert "You voted up." in html and 'data-up>1<' in html
    client.post("/song/42/vote", data={"vote": "down", "csrf_token": token})
    html = client.get("/song/42/vote").get_data(as_text=True)
    assert "You voted down." in html and 'data-up>0<' in html and 'data-down>1<' in html
    client.post("/song/42/vote", data={"vote": "none", "csrf_token": token})
    assert 'data-down>0<' in client.get("/song/42/vote").get_data(as_text=True)
    # the first vote stored the song's text durably
    assert fakes.votes.stored[(42, "rel-test-1")][0] == "Song of 42"


def test_vote_without_csrf_is_refused(client, auth, fakes):
    auth.register()
    response = client.post("/song/42/vote", data={"vote": "up"})
    assert response.status_code == 400
    assert fakes.votes.votes == {}


def test_vote_with_bad_value_is_400(client, auth):
    auth.register()
    token = csrf_from(client.get("/song/42/vote").get_data(as_text=True))
    assert client.post("/song/42/vote", data={"vote": "sideways", "csrf_token": token}).status_code == 400


def test_top_lists_songs_and_is_cacheable_five_minutes(client, auth):
    auth.register()
    token = csrf_from(client.get("/song/42/vote").get_data(as_text=True))
    client.post("/song/42/vote", data={"vote": "up", "csrf_token": token})
    response = client.get("/top")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Song of 42" in html and 'href="/song/42"' in html and "+1" in html
    assert "public" in response.headers["Cache-Control"] and "max-age=300" in response.headers["Cache-Control"]
    assert "Set-Cookie" not in response.headers


def test_my_votes_requires_sign_in(client):
    response = client.get("/my/votes")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/my/votes"


def test_my_votes_lists_own_votes(client, auth):
    auth.register()
    token = csrf_from(client.get("/song/42/vote").get_data(as_text=True))
    client.post("/song/42/vote", data={"vote": "down", "csrf_token": token})
    response = client.get("/my/votes")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Song of 42" in html and "alice" in html
    assert response.headers["Cache-Control"] == "private, no-store"


def test_votes_service_down_keeps_song_pages_working(client, fakes):
    fakes.votes.down = True
    assert client.get("/song/42").status_code == 200
    widget = client.get("/song/42/vote")
    assert widget.status_code == 200 and "unavailable" in widget.get_data(as_text=True)
    assert client.get("/top").status_code == 503


def test_vote_on_a_song_with_nul_characters_is_stored_without_them(client, auth, fakes, redis_client):
    """A weak model can write NUL, which PostgreSQL text refuses; the vote must still work."""
    from billionsongs.common.songcache import SongCache
    from billionsongs.common.songs import Song
    SongCache(redis_client).put(Song(7, "rel-test-1", "Nul\x00title", "la\x00la"))
    auth.register()
    token = csrf_from(client.get("/song/7/vote").get_data(as_text=True))
    assert client.post("/song/7/vote", data={"vote": "up", "csrf_token": token}).status_code == 303
    assert fakes.votes.stored[(7, "rel-test-1")] == ("Nultitle", "lala")


def test_backend_refusal_is_a_clear_400_not_a_500(client, auth, monkeypatch):
    from web.clients import Clients, InvalidArgument

    def refuse(*args, **kwargs):
        raise InvalidArgument("refused by the votes service")

    auth.register()
    token = auth.api_token()
    monkeypatch.setattr(Clients, "cast_vote", refuse)
    response = client.put("/api/songs/5/vote", json={"vote": "up"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 400 and response.get_json()["error"]
