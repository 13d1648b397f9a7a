"""Probes, metrics, request ids and security headers."""
from __future__ import annotations

import pytest

from web.state import state

PAGES = ["/song/1", "/top", "/privacy", "/auth/login", "/auth/register", "/song/abc", "/healthz", "/api/session"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["X-Model-Release"] == "rel-test-1"  # the CDN's cache key


def test_healthz_stays_alive_when_the_generator_is_down(client, fakes):
    client.get("/healthz")
    fakes.generator.down = True
    state(client.application).release._fetched_at = float("-inf")
    response = client.get("/healthz")
    assert response.status_code == 200 and response.headers["X-Model-Release"] == "rel-test-1"


def test_readyz(client, fakes):
    assert client.get("/readyz").status_code == 200
    fakes.generator_server.set_serving(False)
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"] == {"generator": False, "votes": True, "redis": True}
    finally:
        fakes.generator_server.set_serving(True)


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_readyz_refuses_requests_from_the_public_side(client, header):
    # Probes call the pod directly; anything through a proxy (Ingress, CDN) is public.
    value = "for=203.0.113.9" if header == "Forwarded" else "203.0.113.9"
    assert client.get("/readyz", headers={header: value}).status_code == 404
    assert client.get("/readyz").status_code == 200


def test_metrics_are_not_on_the_public_port(client):
    client.get("/song/1")
    assert client.get("/metrics").status_code == 404  # the gunicorn master serves them on METRICS_PORT
    from web import metrics
    body = metrics.render()[0].decode()
    assert 'web_http_requests_total{endpoint="songs.song",method="GET",status="200"}' in body
    assert 'web_http_request_duration_seconds_count{endpoint="songs.song"}' in body
    assert "web_song_source_total" in body


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_everywhere(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_request_id_is_echoed_and_sent_over_grpc(client, fakes):
    response = client.get("/song/64", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert fakes.generator.request_ids == ["abc-123"]


def test_bad_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id\u00e9" * 10})
    assert response.headers["X-Request-ID"] != "bad id" and len(response.headers["X-Request-ID"]) == 32


def test_static_files_are_served_with_long_cache(client):
    with client.get("/static/site.css") as response:
        assert response.status_code == 200 and "max-age=31536000" in response.headers["Cache-Control"]
        assert "public" in response.headers["Cache-Control"]


def test_unknown_path_and_method(client):
    assert client.get("/nope").status_code == 404
    assert client.delete("/song/1").status_code == 405


def test_redis_down_is_503_not_500(fakes):
    from tests.support.web_fakes import make_settings
    from web.app import create_app
    app = create_app({"SETTINGS": make_settings(fakes, "redis://127.0.0.1:1/0"), "TESTING": True})
    assert app.test_client().get("/song/1").status_code == 503


def test_settings_require_a_secret_key():
    from billionsongs.common.settings import SettingsError
    from web.settings import WebSettings
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        WebSettings.from_env({})
    assert WebSettings.from_env({"SECRET_KEY": "k"}).song_s_maxage == 30 * 24 * 3600
