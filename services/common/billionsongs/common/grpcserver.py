"""Build and run a gRPC server the same way in every service.

``create_server`` only builds (tests bind port 0 and talk over a real
channel); ``serve`` runs it until SIGTERM/SIGINT and then drains with a grace
period. Every server gets the standard health service (NOT_SERVING until the
service says it is warm), server reflection, request-id propagation,
Prometheus request metrics, and a bound on its calls in flight (CallLimit) that
keeps threads free for health checks under any load.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Histogram

from billionsongs.common.logs import REQUEST_ID_HEADER, log_fields, new_request_id, request_id_var

log = logging.getLogger(__name__)
# One JSON line per RPC (health checks aside), carrying the caller's request id.
access_log = logging.getLogger("grpc.access")
_QUIET_PREFIX = "/grpc.health.v1.Health/"

RPC_COUNT = Counter("grpc_server_handled_total", "RPCs completed, by method and status code",
                    ["grpc_method", "grpc_code"])
RPC_LATENCY = Histogram("grpc_server_handling_seconds", "RPC handling time, by method",
                        ["grpc_method"],
                        buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


# gRFC A6's server pushback: how long a client should wait before retrying. gRPC's own
# retry policy honours it; our clients read it (retry_after_s) for their Retry-After.
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"


def abort_exhausted(context, message: str, retry_after_s: float):
    """End the RPC with RESOURCE_EXHAUSTED and the retry hint in its trailing metadata
    (``grpc-retry-pushback-ms``). Raises, like ``context.abort``."""
    context.set_trailing_metadata(((RETRY_PUSHBACK_KEY, str(max(1, round(retry_after_s * 1000)))),))
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def _code_of(context) -> str:
    code = context.code() if hasattr(context, "code") else None
    return (code or grpc.StatusCode.OK).name


# Health checks and reflection never wait behind a service's own calls (see CallLimit).
_ALWAYS_QUICK = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Handler threads beyond a server's call slots: only quick methods and refusals use
# them, so a liveness probe is answered however many slow calls are in flight.
QUICK_WORKERS = 4

CALLS_REFUSED = Counter("grpc_server_refused_total",
                        "RPCs refused with RESOURCE_EXHAUSTED: every call slot was busy", ["grpc_method"])


class CallLimit:
    """At most ``slots`` of a server's ordinary calls run at once; one more is answered
    RESOURCE_EXHAUSTED at once, with ``retry_after_s`` as its retry hint, instead of
    waiting in the thread pool's queue (where it would also delay health checks).

    Quick methods (health, reflection, ``quick_methods``: full names such as
    ``/billionsongs.v1.Generator/GetModelInfo``) take no slot. The server's pool has
    ``slots + QUICK_WORKERS`` threads, so at least QUICK_WORKERS are always free for
    them and for the refusals, which take microseconds."""

    def __init__(self, slots: int, retry_after_s: float = 1.0, quick_methods: Iterable[str] = ()):
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = slots
        self.retry_after_s = retry_after_s
        self.quick_methods = frozenset(quick_methods)
        self._free = threading.BoundedSemaphore(slots)

    def is_quick(self, method: str) -> bool:
        return method.startswith(_ALWAYS_QUICK) or method in self.quick_methods

    def try_enter(self) -> bool:
        return self._free.acquire(blocking=False)

    def leave(self) -> None:
        self._free.release()

    def refuse(self, method: str, context) -> None:
        CALLS_REFUSED.labels(method).inc()
        abort_exhausted(context, f"server busy: all {self.slots} call slots are in use; retry shortly",
                        self.retry_after_s)


class UndecodableRequest:
    """Stands in for a request message the protobuf parser refused (truncated bytes,
    invalid UTF-8 in a string field, ...). gRPC Python would answer INTERNAL before any
    handler ran; with this the call answers INVALID_ARGUMENT, the client's fault."""

    def __init__(self, error: Exception):
        self.error = error


def tolerant(parse: Callable[[bytes], object] | None) -> Callable[[bytes], object] | None:
    """``parse`` (a request deserializer) returning UndecodableRequest instead of raising."""
    if parse is None:
        return None

    def deserialize(data: bytes):
        try:
            return parse(data)
        except Exception as error:  # any parse failure is the client's input
            return UndecodableRequest(error)
    return deserialize


def refuse_undecodable(request, context, method: str) -> None:
    """INVALID_ARGUMENT (raises, like context.abort) when ``request`` could not be parsed."""
    if isinstance(request, UndecodableRequest):
        name = method.rsplit("/", 1)[-1]
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"request of {name} is not a valid protobuf message (strings must be UTF-8): {request.error}")


def _checked_stream(requests, context, method: str):
    for request in requests:
        refuse_undecodable(request, context, method)
        yield request


class ObservingInterceptor(grpc.ServerInterceptor):
    """Restores the caller's request id, records count and latency per RPC, admits
    ordinary calls through ``limit`` (CallLimit), and answers INVALID_ARGUMENT to
    requests that do not parse (every service, health and reflection included)."""

    def __init__(self, limit: CallLimit | None = None):
        self.limit = limit

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        incoming_id = metadata.get(REQUEST_ID_HEADER) or ""
        limit = None if self.limit is None or self.limit.is_quick(method) else self.limit

        def begin():
            request_id_var.set(incoming_id or new_request_id())
            return time.perf_counter()

        def finish(start, context, failed: bool, cancelled: bool = False):
            elapsed = time.perf_counter() - start
            RPC_LATENCY.labels(method).observe(elapsed)
            code = _code_of(context)
            if code == "OK" and (failed or cancelled):
                code = "CANCELLED" if cancelled else "UNKNOWN"
            RPC_COUNT.labels(method, code).inc()
            if not method.startswith(_QUIET_PREFIX):
                access_log.info("%s %s", method, code, extra=log_fields(
                    method=method, code=code, ms=round(elapsed * 1000, 1)))

        def wrap_unary(behavior):
            def wrapper(request, context):
                start = begin()
                failed, admitted = True, False
                try:
                    refuse_undecodable(request, context, method)
                    if limit is not None:
                        admitted = limit.try_enter()
                        if not admitted:
                            limit.refuse(method, context)
                    result = behavior(request, context)
                    failed = False
                    return result
                finally:
                    if admitted:
                        limit.leave()
                    finish(start, context, failed)
            return wrapper

        def wrap_stream(behavior):
            def wrapper(request, context):
                start = begin()
                failed, cancelled, admitted = True, False, False
                try:
                    refuse_undecodable(request, context, method)
                    if limit is not None:
                        admitted = limit.try_enter()
                        if not admitted:
                            limit.refuse(method, context)
                    yield from behavior(request, context)
                    failed = False
                except GeneratorExit:
                    # The stream was closed before its end (the caller went
                    # away): a cancellation, not a handler error.
                    cancelled = True
                    raise
                finally:
                    if admitted:
                        limit.leave()
                    finish(start, context, failed, cancelled)
            return wrapper

        parse, serialize = tolerant(handler.request_deserializer), handler.response_serializer
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(wrap_unary(handler.unary_unary), parse, serialize)
        if handler.unary_stream and getattr(handler.unary_stream, "experimental_non_blocking", False):
            # Health's Watch answers through callbacks and holds no thread while it waits;
            # it keeps that form (the metrics wrapper would make it one thread per watcher).
            watch = handler.unary_stream

            def non_blocking(request, context, send_response_callback=None):
                refuse_undecodable(request, context, method)
                return watch(request, context, send_response_callback=send_response_callback)
            non_blocking.experimental_non_blocking = True
            return grpc.unary_stream_rpc_method_handler(non_blocking, parse, serialize)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(wrap_stream(handler.unary_stream), parse, serialize)
        if handler.stream_unary:
            behavior = handler.stream_unary
            return grpc.stream_unary_rpc_method_handler(
                lambda requests, context: behavior(_checked_stream(requests, context, method), context),
                parse, serialize)
        if handler.stream_stream:  # reflection
            behavior = handler.stream_stream
            return grpc.stream_stream_rpc_method_handler(
                lambda requests, context: behavior(_checked_stream(requests, context, method), context),
                parse, serialize)
        return handler


@dataclass
class Server:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    service_names: tuple[str, ...]

    def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ("",) + self.service_names:
            self.health.set(name, status)


def create_server(
    address: str,
    register: Iterable[Callable[[grpc.Server], None]],
    service_names: Iterable[str],
    *,
    max_workers: int = 16,
    quick_methods: Iterable[str] = (),
    retry_after_s: float = 1.0,
    max_concurrent_rpcs: int | None = None,
    options: Iterable[tuple[str, object]] = (),
) -> Server:
    """Build (not start) a server on ``address`` ("host:0" picks a free port).

    ``register`` holds callables such as
    ``lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(servicer, s)``;
    ``service_names`` are their full names, for health and reflection.
    ``max_workers`` of the service's calls run at once (CallLimit); more are refused
    with RESOURCE_EXHAUSTED and ``retry_after_s`` as the hint; ``quick_methods``
    (full method names), health and reflection are exempt and always find a thread.
    """
    limit = CallLimit(max_workers, retry_after_s, quick_methods)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers + QUICK_WORKERS, thread_name_prefix="grpc"),
        interceptors=[ObservingInterceptor(limit)],
        maximum_concurrent_rpcs=max_concurrent_rpcs,
        options=[("grpc.so_reuseport", 0), *options],
    )
    for add in register:
        add(server)
    names = tuple(service_names)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        names + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind gRPC server to {address}")
    result = Server(server=server, port=port, health=health_servicer, service_names=names)
    result.set_serving(False)
    return result


def serve(server: Server, *, grace: float = 10.0, on_stop: Callable[[], None] | None = None,
          ready: Callable[[], None] | None = None) -> None:
    """Start ``server``, mark it serving, block until SIGTERM/SIGINT, then drain.

    ``ready`` runs after start (e.g. warm-up) before health turns SERVING;
    ``on_stop`` runs after the server has drained (release workers, pools).
    """
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("signal %s received, shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    server.server.start()
    try:
        if ready is not None:
            ready()
        server.set_serving(True)
        log.info("serving on port %d", server.port)
        stop.wait()
    finally:
        server.set_serving(False)
        # Refuse new RPCs, let in-flight ones finish within the grace period.
        server.server.stop(grace).wait()
        if on_stop is not None:
            on_stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")
