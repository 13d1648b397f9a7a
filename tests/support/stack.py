"""Helpers for tests against the whole stack as `make run` starts it (devstack.launcher.Stack: real PostgreSQL,
Redis, generator, votes, pregen, web under gunicorn), started once for every test
in this folder, on free ports, with a tiny random model and JSON logs in files."""
from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.launcher import Ports, Stack

# Cheap but real argon2id; small pool and batches; short generation timeout so a
# dead generator gives a quick 503 rather than a long wait.
STACK_ENV = {
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "1024", "ARGON2_PARALLELISM": "1",
    "GENERATOR_WORKERS": "1", "GENERATOR_THREADS": "1", "GENERATOR_MAX_NEW_TOKENS": "128",
    "GENERATOR_MAX_BATCH": "16",
    "POOL_TARGET_SIZE": "30", "PREGEN_BATCH": "8", "BACKOFF_MIN_S": "0.2", "BACKOFF_MAX_S": "1",
    "TOP_REFRESH_S": "1", "MODEL_CHECK_S": "1",
    "WEB_WORKERS": "2", "WEB_THREADS": "8", "GENERATION_TIMEOUT_S": "15", "STREAM_AFTER_S": "1",
    "LOGIN_ATTEMPTS_PER_MINUTE": "1000", "REGISTRATIONS_PER_MINUTE": "1000",
}


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - a service being down is expected here
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def grpc_serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        return reply.status == health_pb2.HealthCheckResponse.SERVING


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def metric_value(text: str, name: str, labels: str = "") -> float | None:
    """The value of one sample in Prometheus text format (summed over label sets
    that contain ``labels``), or None when absent."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head == name or head.startswith(name + "{") and labels in head:
            total += float(value)
            found = True
    return total if found else None


@dataclass
class RunningStack:
    stack: Stack
    log_dir: Path

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def ports(self) -> Ports:
        return self.stack.ports

    def healthy(self) -> bool:
        p = self.ports
        return (grpc_serving(p.generator) and grpc_serving(p.votes)
                and http_status(self.url + "/readyz") == 200
                and metric_value(metrics_text(p.pregen_metrics), "pregen_pool_size") is not None)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        wait_until(self.healthy, timeout, "every service healthy", interval=0.2)

    def logs(self, service: str) -> list[dict]:
        entries = []
        for line in (self.log_dir / f"{service}.log").read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    pass
        return entries

    def sql(self, query: str) -> list[list[str]]:
        out = self.stack.postgres.psql(query)
        return [row.split("|") for row in out.splitlines() if row]


