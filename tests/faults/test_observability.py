"""Every service exposes Prometheus metrics (request counts and latencies, the
generator's queue depth and batch fill, pregen's pool size) and writes JSON log
lines; one X-Request-ID sent to the website shows up in the logs of the services
it called over gRPC. Runs on the same stack as the fault test (after it, so this
also shows the restarted services observable again)."""
from __future__ import annotations

import random

import pytest

from bench.traffic import Account, get, session
from tests.support.stack import metric_value, metrics_text, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(180)]


def web_metrics(rs) -> str:
    """From the gunicorn master's metrics port (the site's port has no /metrics)."""
    return metrics_text(rs.ports.web_metrics)


def test_every_service_exposes_its_metrics(running_stack):
    rs = running_stack
    # a song nobody opened yet: one generator RPC at least, whatever restarted before
    get(session(), f"{rs.url}/song/{9 * 10 ** 14 + random.randrange(10 ** 6)}")
    web = web_metrics(rs)
    assert metric_value(web, "web_http_requests_total", 'endpoint="songs.song"') >= 1
    assert metric_value(web, "web_http_request_duration_seconds_count", 'endpoint="songs.song"') >= 1
    generator = metrics_text(rs.ports.generator_metrics)
    votes = metrics_text(rs.ports.votes_metrics)
    pregen = metrics_text(rs.ports.pregen_metrics)
    for text, method in ((generator, "/billionsongs.v1.Generator/"),
                         (votes, "/billionsongs.v1.Votes/")):
        assert (metric_value(text, "grpc_server_handled_total", f'method="{method}') or 0) > 0
        assert (metric_value(text, "grpc_server_handling_seconds_count", f'method="{method}') or 0) > 0
    assert metric_value(generator, "generator_queue_depth") is not None
    assert metric_value(generator, "generator_batch_fill") is not None
    assert (metric_value(generator, "generator_songs_total") or 0) > 0
    assert metric_value(generator, "generator_tokens_total") is not None
    assert (metric_value(pregen, "pregen_pool_size") or 0) > 0
    assert metric_value(pregen, "pregen_batch_duration_seconds_count") is not None


def test_request_id_follows_a_request_across_grpc(running_stack):
    rs = running_stack
    rng = random.Random()
    request_id = f"trace-{rng.randrange(16 ** 12):012x}"
    account = Account(rs.url, f"tracer{rng.randrange(10 ** 6)}", "tracer-password")
    account.register()
    # a song nobody opened yet: the website must ask the generator for it
    song_id = 7 * 10 ** 14 + rng.randrange(10 ** 6)
    page = get(session(), f"{rs.url}/song/{song_id}", headers={"X-Request-ID": request_id})
    assert page.status_code in (200, 404) and page.headers["X-Request-ID"] == request_id
    account.http.get(f"{rs.url}/api/songs/{song_id}/votes", headers={"X-Request-ID": request_id}, timeout=10)

    def seen_in(service: str) -> list[dict]:
        return [e for e in rs.logs(service) if e.get("request_id") == request_id]

    web_lines = wait_until(lambda: seen_in("web"), 10, "the request id in web's log")
    assert all(e["service"] == "web" and e["level"] and e["ts"] for e in web_lines)
    generator_lines = wait_until(lambda: seen_in("generator"), 10, "the request id in generator's log")
    assert any("/billionsongs.v1.Generator/" in e.get("method", "") for e in generator_lines)
    votes_lines = wait_until(lambda: seen_in("votes"), 10, "the request id in votes' log")
    assert any(e.get("method") == "/billionsongs.v1.Votes/GetSongVotes" for e in votes_lines)
