"""Client channels: one factory, so every caller gets the same load balancing,
keepalive, retries and request-id propagation. Deadlines are set per call by
the typed wrappers in each service's ``clients.py``.
"""
from __future__ import annotations

import json

import grpc

from billionsongs.common.grpcserver import RETRY_PUSHBACK_KEY
from billionsongs.common.logs import REQUEST_ID_HEADER, request_id_var

# round_robin spreads calls over every address a dns:/// target resolves to
# (a headless Service in Kubernetes); the retry policy retries only calls that
# never reached a server (UNAVAILABLE), which is safe for every RPC here.
_SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{}],
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.05s",
            "maxBackoff": "0.5s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
})

_OPTIONS = [
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    # reconnect within seconds after a peer restarts (the default grows to 120 s)
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


class _RequestIdInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def _with_id(self, details):
        request_id = request_id_var.get()
        if not request_id:
            return details
        metadata = list(details.metadata or ()) + [(REQUEST_ID_HEADER, request_id)]
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_id(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_id(details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def make_channel(target: str) -> grpc.Channel:
    """A channel to ``target`` ("host:port" or "dns:///name:port")."""
    channel = grpc.insecure_channel(target, options=_OPTIONS)
    return grpc.intercept_channel(channel, _RequestIdInterceptor())


def retry_after_s(error: grpc.RpcError) -> float | None:
    """The server's retry hint of a failed call in seconds, or None when it gave none."""
    try:
        metadata = error.trailing_metadata() or ()
    except Exception:  # not a call error (a test double), or no metadata
        return None
    for key, value in metadata:
        if key == RETRY_PUSHBACK_KEY and isinstance(value, str) and value.isdigit():
            return int(value) / 1000
    return None
