"""Prometheus metrics endpoint for the gRPC services (the web app serves its own)."""
from __future__ import annotations

from prometheus_client import start_http_server


def start_metrics_server(port: int, host: str = "0.0.0.0") -> None:
    """Serve /metrics on ``port`` in a daemon thread; 0 disables it."""
    if port:
        start_http_server(port, addr=host)
