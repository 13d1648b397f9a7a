"""The CDN configuration (deploy/nginx/) run by Debian's nginx in front of a
small stand-in origin that answers with web's cache headers: fast and
independent of the services. tests/e2e/test_cdn.py runs it in front of the
real stack."""
from __future__ import annotations

import http.server
import re
import threading
import time
import urllib.error
import urllib.request

import pytest

from devstack.cdn import CdnProxy, render_template
from tests.support.deploylib import ROOT, load_compose

PUBLIC = "public, max-age=60, s-maxage=86400"
# The CDN asks web for the release at most once per CDN_RELEASE_TTL (1s here);
# nginx counts cache validity in whole seconds, so an entry lives up to 2 s.
RELEASE_WAIT_S = 2.3


class Origin(http.server.ThreadingHTTPServer):
    """Answers like web: song pages public with an ETag of (release, id); the
    release on /healthz; personal things private. Counts the requests it gets."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), OriginHandler)
        self.release = "r1"
        self.hits: dict[str, int] = {}


class OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # no keep-alive: when the origin stops, it is gone

    def do_GET(self):  # noqa: N802 (http.server's name)
        origin = self.server
        origin.hits[self.path] = origin.hits.get(self.path, 0) + 1
        headers = {"Cache-Control": "private, no-store"}
        body = b"ok"
        if self.path == "/healthz":
            headers["X-Model-Release"] = origin.release
        elif m := re.fullmatch(r"/song/(\d+)", self.path):
            headers = {"Cache-Control": PUBLIC, "ETag": f'"{origin.release}-{m.group(1)}"'}
            body = f"song {m.group(1)} of release {origin.release}".encode()
        elif self.path == "/song/9?partial":
            body = b"being written"
        elif self.path == "/api/session":
            headers["Set-Cookie"] = "session=abc; HttpOnly"
        elif self.path in ("/api/songs/5/votes", "/api/me/votes", "/my/votes"):
            headers = {"Cache-Control": PUBLIC}  # a bug in the origin must not leak one user's page
        elif self.path == "/login":
            headers = {"Cache-Control": PUBLIC, "Set-Cookie": "csrf=x"}
        self.send_response(200)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def origin():
    server = Origin()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def cdn(origin, tmp_path):
    with CdnProxy(tmp_path / "cdn", f"127.0.0.1:{origin.server_address[1]}", release_ttl="1s") as proxy:
        yield proxy


def get(url: str, cookie: str | None = None) -> tuple[str, str, dict]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers.get("X-Cache-Status", ""), response.read().decode(), dict(response.headers)


def test_the_configuration_passes_nginx_t(tmp_path):
    result = CdnProxy(tmp_path, "127.0.0.1:8000").check()
    assert result.returncode == 0, result.stderr


def test_compose_sets_every_setting_the_template_needs():
    needed = set(re.findall(r"\$\{(\w+)\}", (ROOT / "deploy" / "nginx" / "cdn.conf.template").read_text()))
    cdn_env = load_compose(ROOT / "docker-compose.yml")["services"]["cdn"]["environment"]
    assert needed == set(cdn_env)
    with pytest.raises(KeyError):
        render_template({"WEB_ORIGIN": "x"})


def test_song_pages_come_from_the_cache_on_the_second_request(cdn, origin):
    first = get(f"{cdn.url}/song/5")
    second = get(f"{cdn.url}/song/5", cookie="session=someone")
    assert (first[0], second[0]) == ("MISS", "HIT")
    assert first[1] == second[1] == "song 5 of release r1"
    assert origin.hits["/song/5"] == 1


@pytest.mark.parametrize("path", ["/api/session", "/api/songs/5/votes", "/api/me/votes", "/my/votes", "/login",
                                  "/song/9?partial"])
def test_personal_and_partial_answers_are_never_cached(cdn, origin, path):
    statuses = [get(f"{cdn.url}{path}", cookie="session=someone")[0] for _ in range(3)]
    assert "HIT" not in statuses
    assert origin.hits[path] == 3


def test_a_new_release_is_never_answered_with_the_old_page(cdn, origin):
    assert get(f"{cdn.url}/song/5")[1] == "song 5 of release r1"
    assert get(f"{cdn.url}/song/5")[0] == "HIT"
    origin.release = "r2"
    time.sleep(RELEASE_WAIT_S)
    status, body, headers = get(f"{cdn.url}/song/5")
    assert (status, body, headers["ETag"]) == ("MISS", "song 5 of release r2", '"r2-5"')
    assert get(f"{cdn.url}/song/5")[0] == "HIT"


def test_cached_pages_survive_the_origin_going_down(cdn, origin):
    get(f"{cdn.url}/song/5")
    origin.shutdown()
    origin.server_close()
    time.sleep(RELEASE_WAIT_S)  # the release is asked for again, and the last known one used
    status, body, _ = get(f"{cdn.url}/song/5")
    assert (status, body) == ("HIT", "song 5 of release r1")
    with pytest.raises(urllib.error.HTTPError):
        get(f"{cdn.url}/song/6")


def test_debian_nginx_has_the_modules_the_cdn_needs():
    import subprocess

    from devstack.cdn import nginx_binary
    built = subprocess.run([nginx_binary(), "-V"], capture_output=True, text=True, timeout=10).stderr
    assert "--with-http_auth_request_module" in built
    assert "--without-http_proxy_module" not in built


def test_envsubst_in_the_official_image_leaves_nginx_variables_alone():
    # The image's entrypoint substitutes every *defined* environment variable,
    # in $NAME and ${NAME} form; nginx's own variables must never be one.
    text = (ROOT / "deploy" / "nginx" / "cdn.conf.template").read_text()
    cdn_env = set(load_compose(ROOT / "docker-compose.yml")["services"]["cdn"]["environment"])
    image_env = {"PATH", "HOME", "HOSTNAME", "NGINX_VERSION", "NJS_VERSION", "NJS_RELEASE", "PKG_RELEASE",
                 "DYNPKG_RELEASE"}
    bare = set(re.findall(r"\$(\w+)", text))
    assert bare, "nginx variables expected"
    assert not bare & (cdn_env | image_env)
    assert all(name == name.lower() for name in bare)


@pytest.mark.parametrize("path", ["/readyz", "/metrics", "/readyz?full=1", "/metrics/", "//readyz", "/%72eadyz",
                                  "/Metrics"])
def test_operations_paths_are_refused_and_never_forwarded(cdn, origin, path):
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(f"{cdn.url}{path}")
        refused.value.close()
        assert refused.value.code == 404
    assert not [p for p in origin.hits if "eadyz" in p.lower() or "metrics" in p.lower()], origin.hits
