"""The shared server: health (NOT_SERVING until ready), reflection, request-id
propagation through the channel factory, metrics and graceful shutdown."""
from __future__ import annotations

import os
import signal
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from billionsongs.common.channels import make_channel
from billionsongs.common.grpcserver import create_server, serve
from billionsongs.common.logs import request_id_var
from billionsongs.v1 import generator_pb2, generator_pb2_grpc

SERVICE = generator_pb2.DESCRIPTOR.services_by_name["Generator"].full_name


class EchoGenerator(generator_pb2_grpc.GeneratorServicer):
    """Answers GetModelInfo with the request id the server saw."""

    def GetModelInfo(self, request, context):
        return generator_pb2.ModelInfo(model_name=request_id_var.get())

    def GetSong(self, request, context):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no songs here")


@pytest.fixture
def server():
    srv = create_server("127.0.0.1:0", [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(
        EchoGenerator(), s)], [SERVICE])
    srv.server.start()
    yield srv
    srv.server.stop(None)


def health_status(channel, service=""):
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_health_is_not_serving_until_marked(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        assert health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        server.set_serving(True)
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
        assert health_status(channel, SERVICE) == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service_and_health(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def test_request_id_travels_from_client_context_to_server(server):
    channel = make_channel(f"127.0.0.1:{server.port}")
    stub = generator_pb2_grpc.GeneratorStub(channel)
    token = request_id_var.set("req-abc123")
    try:
        assert stub.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=5).model_name == "req-abc123"
    finally:
        request_id_var.reset(token)
    # without one, the server makes its own
    assert len(stub.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=5).model_name) == 32
    channel.close()


def test_metrics_count_rpcs_by_method_and_code(server):
    method = "/billionsongs.v1.Generator/GetSong"

    def count(code):
        return REGISTRY.get_sample_value("grpc_server_handled_total",
                                         {"grpc_method": method, "grpc_code": code}) or 0

    before = count("INVALID_ARGUMENT")
    channel = make_channel(f"127.0.0.1:{server.port}")
    with pytest.raises(grpc.RpcError) as err:
        generator_pb2_grpc.GeneratorStub(channel).GetSong(generator_pb2.GetSongRequest(song_id=1), timeout=5)
    channel.close()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert count("INVALID_ARGUMENT") == before + 1


def test_serve_stops_on_sigterm_and_runs_on_stop():
    srv = create_server("127.0.0.1:0", [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(
        EchoGenerator(), s)], [SERVICE])
    stopped = threading.Event()
    ready = threading.Event()
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGTERM))

    def on_ready():
        ready.set()
        timer.start()

    serve(srv, grace=1, ready=on_ready, on_stop=stopped.set)  # returns once SIGTERM is handled
    assert ready.is_set() and stopped.is_set()
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
        with pytest.raises(grpc.RpcError):
            health_status(channel)


def test_a_stream_closed_by_its_caller_counts_as_cancelled_not_unknown():
    """The generator's StreamSong logged UNKNOWN when the web stopped reading
    after the finished song: a closed stream is CANCELLED."""
    from billionsongs.common.grpcserver import ObservingInterceptor

    method = "/billionsongs.v1.Generator/StreamSong"

    def stream(request, context):
        while True:
            yield generator_pb2.StreamSongResponse()

    class Details:
        invocation_metadata = ()

    Details.method = method
    handler = ObservingInterceptor().intercept_service(
        lambda details: grpc.unary_stream_rpc_method_handler(stream), Details())

    class Context:
        def code(self):
            return None

    def count(code):
        return REGISTRY.get_sample_value("grpc_server_handled_total",
                                         {"grpc_method": method, "grpc_code": code}) or 0

    before = (count("CANCELLED"), count("UNKNOWN"))
    responses = handler.unary_stream(generator_pb2.GetSongRequest(song_id=1), Context())
    next(responses)
    responses.close()
    assert (count("CANCELLED"), count("UNKNOWN")) == (before[0] + 1, before[1])


def test_health_watchers_hold_no_handler_thread():
    """Health's Watch answers through callbacks; wrapped by the metrics interceptor it
    used to hold a thread per watcher, so a few watchers starved every other call."""
    srv = create_server("127.0.0.1:0", [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(
        EchoGenerator(), s)], [SERVICE], max_workers=2)
    srv.server.start()
    srv.set_serving(True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(20)]
            assert all(next(w).status == health_pb2.HealthCheckResponse.SERVING for w in watches)
            assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
            stub = generator_pb2_grpc.GeneratorStub(channel)
            assert stub.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=5).model_name
            for w in watches:
                w.cancel()
    finally:
        srv.server.stop(None)


def test_calls_beyond_the_slots_are_refused_with_a_retry_hint_and_quick_methods_are_not():
    from billionsongs.common.channels import retry_after_s
    from billionsongs.common.grpcserver import CallLimit
    entered, release = threading.Semaphore(0), threading.Event()

    class Blocking(EchoGenerator):
        def GetSong(self, request, context):
            entered.release()
            release.wait(30)
            return generator_pb2.Song(song_id=request.song_id)

    srv = create_server("127.0.0.1:0", [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(
        Blocking(), s)], [SERVICE], max_workers=2, retry_after_s=0.25,
        quick_methods=[f"/{SERVICE}/GetModelInfo"])
    srv.server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            stub = generator_pb2_grpc.GeneratorStub(channel)
            held = [stub.GetSong.future(generator_pb2.GetSongRequest(song_id=i), timeout=30) for i in range(2)]
            assert entered.acquire(timeout=10) and entered.acquire(timeout=10)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetSong(generator_pb2.GetSongRequest(song_id=9), timeout=30)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert retry_after_s(refused.value) == 0.25
            for _ in range(10):  # more quick calls than there are spare threads
                assert stub.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=5).model_name
            release.set()
            assert [f.result().song_id for f in held] == [0, 1]
            assert stub.GetSong(generator_pb2.GetSongRequest(song_id=3), timeout=10).song_id == 3
    finally:
        srv.server.stop(None)
    with pytest.raises(ValueError):
        CallLimit(0)


def test_tolerant_deserializer_turns_parse_errors_into_a_marker():
    from billionsongs.common.grpcserver import UndecodableRequest, tolerant
    parse = tolerant(generator_pb2.GetSongsRequest.FromString)
    good = generator_pb2.GetSongsRequest(song_ids=[1, 2]).SerializeToString()
    assert list(parse(good).song_ids) == [1, 2]
    assert isinstance(parse(b"\x0a\x05\x01"), UndecodableRequest)  # packed field longer than the bytes


GARBAGE = [b"\xff\xff\xff\xff", b"\x0a\x05\x01", b"\x08" + b"\xff" * 11]


@pytest.mark.parametrize("method", ["/billionsongs.v1.Generator/GetSong", "/billionsongs.v1.Generator/GetSongs",
                                    "/billionsongs.v1.Generator/StreamSong", "/billionsongs.v1.Generator/GetModelInfo",
                                    "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"])
@pytest.mark.parametrize("raw", GARBAGE)
def test_bytes_that_do_not_parse_are_invalid_argument_on_every_method(server, method, raw):
    server.set_serving(True)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        streaming = method.endswith(("GetSongs", "StreamSong", "Watch"))
        call = (channel.unary_stream if streaming else channel.unary_unary)(
            method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as error:
            result = call(raw, timeout=5)
            if streaming:
                list(result)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, error.value.details())


def test_reflection_refuses_bytes_that_do_not_parse(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as error:
            list(call(iter([b"\xff\xff\xff"]), timeout=5))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
