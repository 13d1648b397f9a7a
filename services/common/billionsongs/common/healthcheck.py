"""A container health check that needs no extra binary (compose ``healthcheck``).

    python -m billionsongs.common.healthcheck grpc 127.0.0.1:50051   # grpc.health.v1, overall status
    python -m billionsongs.common.healthcheck http http://127.0.0.1:8000/healthz

Exit 0 when healthy (SERVING / HTTP 2xx), 1 otherwise, within ``--timeout``.
Kubernetes does not need it: it has native ``grpc:`` and ``httpGet:`` probes.
"""
from __future__ import annotations

import sys
import urllib.request


def check_grpc(target: str, timeout: float, service: str = "") -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


def check_http(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (local URL)
            return 200 <= response.status < 300
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    from billionsongs.common.cli import Parser, float_above
    parser = Parser(prog="python -m billionsongs.common.healthcheck", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("grpc", "http"))
    parser.add_argument("target", help="host:port for grpc, a URL for http")
    parser.add_argument("--timeout", type=float_above(0), default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    ok = check_grpc(args.target, args.timeout) if args.kind == "grpc" else check_http(args.target, args.timeout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
