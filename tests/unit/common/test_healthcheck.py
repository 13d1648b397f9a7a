"""The compose health check against a real gRPC server and a real HTTP server."""
from __future__ import annotations

import http.server
import threading

import pytest

from billionsongs.common.grpcserver import create_server
from billionsongs.common.healthcheck import main


@pytest.fixture
def grpc_server():
    server = create_server("127.0.0.1:0", [], ["billionsongs.v1.Test"])
    server.server.start()
    yield server
    server.server.stop(None)


def test_grpc_not_serving_then_serving(grpc_server):
    target = f"127.0.0.1:{grpc_server.port}"
    assert main(["grpc", target, "--timeout", "2"]) == 1
    grpc_server.set_serving(True)
    assert main(["grpc", target, "--timeout", "2"]) == 0


def test_grpc_nothing_listening():
    assert main(["grpc", "127.0.0.1:1", "--timeout", "0.5"]) == 1


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_http_status_decides():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert main(["http", f"{base}/healthz"]) == 0
        assert main(["http", f"{base}/readyz"]) == 1
    finally:
        server.shutdown()
        server.server_close()
