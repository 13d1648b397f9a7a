"""The CDN stand-in (deploy/nginx/, the configuration compose gives the official
nginx image) run by Debian's nginx in front of the whole local stack: song pages
come from the cache on the second request; the vote widget, sign-in and the
signed-in JSON API never do; and after a new model release the CDN never answers
with the old release's page."""
from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from devstack.cdn import CdnProxy
from devstack.launcher import ROOT, Ports, Stack, base_env
from devstack.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# small and quick on a shared CPU (as tests/e2e/test_stack_browser.py)
ENV = {
    "GENERATOR_DEVICE": "cpu", "GENERATOR_WORKERS": "1", "GENERATOR_MAX_NEW_TOKENS": "64",
    "GENERATOR_THREADS": "1", "POOL_TARGET_SIZE": "4", "PREGEN_BATCH": "4",
    "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "1024", "ARGON2_PARALLELISM": "1",
    "WEB_WORKERS": "1", "WEB_THREADS": "4", "LOG_LEVEL": "WARNING", "WEB_PROXY_HOPS": "1",
}


def make_model(directory, n_embd: str):
    """A small random model; another width gives other weights, so another release."""
    subprocess.run([sys.executable, "-m", "training.randommodel", str(directory), "--n-embd", n_embd],
                   env=base_env(), cwd=ROOT, check=True, timeout=120, capture_output=True)
    return directory


class Client:
    """One visitor: a cookie jar and the CSRF token of its session."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""

    def request(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "X-CSRF-Token": self.csrf} if data is not None else {}
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def get(self, path: str):
        return self.request("GET", path)

    def session(self) -> dict:
        status, _, body = self.get("/api/session")
        assert status == 200
        data = json.loads(body)
        self.csrf = data["csrf_token"]
        return data


def wait_ready(stack: Stack, timeout: float = 180.0) -> None:
    """Until web's /readyz says generator, votes and Redis answer (the model is warm)."""
    deadline = time.monotonic() + timeout
    while Client(stack.url).get("/readyz")[0] != 200:
        assert time.monotonic() < deadline, "the stack did not become ready"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    old_model, new_model = make_model(models / "old", "128"), make_model(models / "new", "96")
    ports = Ports(web=free_port(), generator=free_port(), votes=free_port(), generator_metrics=free_port(),
                  votes_metrics=free_port(), pregen_metrics=free_port(), web_metrics=free_port())
    state = tmp_path_factory.mktemp("stack")
    stacks = {"current": Stack(state, ports, old_model, env=ENV, restart=False)}
    cdn = CdnProxy(tmp_path_factory.mktemp("cdn"), f"127.0.0.1:{ports.web}", release_ttl="1s")

    def new_release():
        """Stop the stack and start it again on another model (same ports, same data)."""
        stacks["current"].stop()
        stacks["current"] = Stack(state, ports, new_model, env=ENV, restart=False)
        stacks["current"].start()
        wait_ready(stacks["current"])

    try:
        stacks["current"].start()
        wait_ready(stacks["current"])
        cdn.start()
        yield {"cdn": cdn.url, "origin": stacks["current"].url, "new_release": new_release,
               "metrics": f"http://127.0.0.1:{ports.web_metrics}/metrics"}
    finally:
        cdn.stop()
        stacks["current"].stop()


def a_song(origin: str) -> tuple[int, dict]:
    """An id whose song the model finishes, generated through web (not the CDN)."""
    for song_id in range(1, 40):
        status, _, body = Client(origin).get(f"/api/songs/{song_id}")
        if status == 200:
            return song_id, json.loads(body)
    raise AssertionError("no song among ids 1..39 finished")


def test_cdn_in_front_of_the_stack(site):
    cdn, origin = site["cdn"], site["origin"]
    status, headers, _ = Client(origin).get("/healthz")
    assert headers.get("X-Model-Release"), (
        "web sends no X-Model-Release header on /healthz: the CDN cannot key pages by model release")

    # 1. a song page: generated, then served from the cache on the second request
    song_id, song = a_song(origin)
    visitor = Client(cdn)
    first = visitor.get(f"/song/{song_id}")
    second = Client(cdn).get(f"/song/{song_id}")
    assert first[0] == second[0] == 200
    assert "public" in first[1]["Cache-Control"] and "Set-Cookie" not in first[1]
    assert (first[1]["X-Cache-Status"], second[1]["X-Cache-Status"]) == ("MISS", "HIT")
    assert first[2] == second[2] and song["title"].encode() in first[2]
    old_etag = second[1]["ETag"]

    # 2. sign-in, the vote widget and the signed-in JSON API never come from the cache
    erin = Client(cdn)
    assert erin.session()["user"] is None
    assert erin.request("POST", "/api/register", {"username": "erin", "password": "a long password"})[0] == 201
    erin.session()
    assert erin.request("PUT", f"/api/songs/{song_id}/vote", {"vote": "up"})[0] == 200
    personal = ["/api/session", f"/api/songs/{song_id}/votes", "/api/me/votes", f"/song/{song_id}/vote",
                "/auth/login", "/my/votes"]
    for path in personal:
        for _ in range(2):
            status, headers, _ = erin.get(path)
            assert headers.get("X-Cache-Status") != "HIT", f"{path} came from the cache"
    assert json.loads(erin.get("/api/session")[2])["user"] == {"name": "erin"}
    assert json.loads(erin.get(f"/api/songs/{song_id}/votes")[2])["mine"] == "up"
    stranger = Client(cdn)
    assert json.loads(stranger.get("/api/session")[2])["user"] is None, "one visitor's session leaked"
    assert json.loads(stranger.get(f"/api/songs/{song_id}/votes")[2])["mine"] is None
    assert stranger.get("/api/me/votes")[0] == 401

    # 3. a new model release: the old release's page is never the answer
    site["new_release"]()
    _, _, body = Client(site["origin"]).get(f"/api/songs/{song_id}")
    status, headers, page = Client(cdn).get(f"/song/{song_id}")
    assert headers.get("X-Cache-Status") != "HIT"
    assert headers.get("ETag") != old_etag and page != first[2]
    if status == 200:
        new_song = json.loads(body)
        assert new_song["model_release"] != song["model_release"]
        assert Client(cdn).get(f"/song/{song_id}")[1]["X-Cache-Status"] == "HIT"


def test_operations_endpoints_never_answer_from_the_public_side(site):
    cdn, origin = site["cdn"], site["origin"]
    # the probes' and Prometheus' own ways in work...
    assert Client(origin).get("/readyz")[0] == 200
    status, _, body = Client(origin).get("/metrics")
    assert status == 404, "metrics must not be on the site's port"
    with urllib.request.urlopen(site["metrics"], timeout=10) as response:
        assert b"web_http_requests_total" in response.read()
    # ...the public side gets 404 from the CDN for every spelling, and nothing is cached
    for path in ("/readyz", "/metrics", "/readyz?x=1", "/readyz/", "//readyz", "/%72eadyz", "/READYZ",
                 "/metrics/", "/metrics?name[]=web_http_requests_total"):
        for _ in range(2):
            status, headers, body = Client(cdn).get(path)
            assert status == 404, f"{path} answered {status} through the CDN"
            assert b"checks" not in body and b"web_http" not in body, path
            assert headers.get("X-Cache-Status") != "HIT", path
    # and web itself refuses /readyz to anything a proxy forwarded (the Ingress's case)
    request = urllib.request.Request(origin + "/readyz", headers={"X-Forwarded-For": "203.0.113.7"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 404
