"""Issue 27, item 9: a full Valkey. A real Valkey of the test's own with a tiny
maxmemory, filled until it refuses writes (noeviction) or evicts everything
(allkeys-lru); the site over the small fake generator and votes services. What can
work keeps working (new songs, votes on evicted or uncached songs, sign-in with its
limit), and readiness and a metric say what is wrong."""
from __future__ import annotations

import pytest
import redis as redis_lib
from prometheus_client import REGISTRY

from devstack.servers import ValkeyServer
from tests.support.web_fakes import RELEASE, AuthActions, FakeBackends, make_settings
from web.app import create_app
from web.state import state


@pytest.fixture(scope="module")
def backends():
    fakes = FakeBackends()
    yield fakes
    fakes.stop()


@pytest.fixture
def valkey():
    server = ValkeyServer()
    server.start()
    client = redis_lib.Redis.from_url(server.url)
    yield server, client
    client.close()
    server.stop()


@pytest.fixture
def site(backends, valkey):
    backends.generator.reset()
    backends.votes.reset()
    app = create_app({"SETTINGS": make_settings(backends, valkey[0].url), "TESTING": True})
    yield app
    state(app).clients.close()


def fill(client, policy: str) -> None:
    """Fill the server to a maxmemory just above what it held: with noeviction writes are
    then refused (the limit is pulled under what is used, so it stays full whatever the
    test's own connections take), with allkeys-lru the old keys are evicted."""
    client.config_set("maxmemory", str(client.info("memory")["used_memory"] + 200_000))
    client.config_set("maxmemory-policy", policy)
    for i in range(5000):
        try:
            client.set(f"filler:{i}", "x" * 1000)
        except redis_lib.exceptions.OutOfMemoryError:
            break
    if policy == "noeviction":
        client.config_set("maxmemory", str(client.info("memory")["used_memory"] - 100_000))
    else:
        assert client.info("stats")["evicted_keys"] > 0


def refused(operation: str) -> float:
    return REGISTRY.get_sample_value("web_redis_errors_total", {"operation": operation, "reason": "full"}) or 0.0


def vote(client, song_id: int):
    token = client.get("/api/session").get_json()["csrf_token"]
    return client.put(f"/api/songs/{song_id}/vote", json={"vote": "up"}, headers={"X-CSRF-Token": token})


def test_with_writes_refused_songs_votes_and_sign_in_still_work_and_readiness_says_why(site, valkey):
    _, kv = valkey
    member = site.test_client()
    assert AuthActions(member).register("fullname", "correct horse").status_code == 303
    assert vote(member, 6).status_code == 200   # song 6 is voted on: stored by the votes service
    kv.delete(f"song:{RELEASE}:6")               # ... and no longer cached
    assert site.test_client().get("/readyz").get_json().get("degraded") is None
    fill(kv, "noeviction")
    with pytest.raises(redis_lib.exceptions.OutOfMemoryError):
        kv.set("one-more", "x")

    locks_before, limits_before = refused("generation_lock"), refused("ratelimit")
    visitor = site.test_client()
    new = visitor.get("/song/77")
    assert new.status_code == 200 and "Song of 77" in new.get_data(as_text=True)
    assert visitor.get("/song/6").status_code == 200          # the stored copy, not cacheable now
    assert visitor.get("/api/songs/78").status_code == 200
    assert visitor.get("/api/random").status_code == 200
    assert vote(member, 99).status_code == 200                 # a vote on a song nobody had cached
    assert refused("generation_lock") > locks_before

    # Sign-in works, and its limit still holds (counted in this process meanwhile).
    walker = AuthActions(site.test_client())
    assert walker.login("fullname", "correct horse").status_code == 303
    statuses = [walker.login("fullname", "wrong horse").status_code for _ in range(6)]
    assert statuses[:4] == [401] * 4 and statuses[-1] == 429, statuses
    assert refused("ratelimit") > limits_before

    ready = site.test_client().get("/readyz")
    assert ready.status_code == 200   # this pod still serves; what is wrong is reported
    degraded = ready.get_json()["degraded"]
    assert "refused (full)" in degraded["redis_writes"] and "maxmemory" in degraded["redis_memory"]
    assert REGISTRY.get_sample_value("web_redis_writable") == 0.0


def test_with_allkeys_lru_a_vote_on_an_evicted_song_still_counts(site, valkey):
    _, kv = valkey
    member = site.test_client()
    assert AuthActions(member).register("lruvoter", "correct horse").status_code == 303
    assert member.get("/api/songs/55").status_code == 200
    assert kv.exists(f"song:{RELEASE}:55")
    fill(kv, "allkeys-lru")
    assert not kv.exists(f"song:{RELEASE}:55")  # evicted
    answer = vote(member, 55)
    assert answer.status_code == 200 and answer.get_json()["mine"] == "up"
    assert member.get("/song/55").status_code == 200
    assert "redis_memory" in site.test_client().get("/readyz").get_json().get("degraded", {})
