"""Every outbound gRPC call of the worker, as small typed wrappers with deadlines."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc

from billionsongs.common.songs import Song
from billionsongs.v1 import generator_pb2, generator_pb2_grpc, votes_pb2, votes_pb2_grpc


@dataclass(frozen=True)
class ModelInfo:
    release: str
    max_songs_per_request: int


class SongStream:
    """The songs of one GetSongs call as they finish; ``cancel()`` ends it
    from another thread (shutdown), which makes iteration raise CANCELLED."""

    def __init__(self, call):
        self._call = call

    def __iter__(self) -> Iterator[Song]:
        return (Song.from_proto(message) for message in self._call)

    def cancel(self) -> None:
        self._call.cancel()


class GeneratorClient:
    def __init__(self, channel: grpc.Channel, rpc_timeout_s: float = 5.0,
                 generate_timeout_s: float = 600.0):
        self._stub = generator_pb2_grpc.GeneratorStub(channel)
        self.rpc_timeout_s = rpc_timeout_s
        self.generate_timeout_s = generate_timeout_s

    def model_info(self) -> ModelInfo:
        info = self._stub.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=self.rpc_timeout_s)
        return ModelInfo(release=info.model_release, max_songs_per_request=info.max_songs_per_request)

    def get_songs(self, song_ids: Sequence[int]) -> SongStream:
        # One deadline for the whole batch: a stalled generator must not hold
        # the worker forever, and a batch on CPU can take minutes.
        call = self._stub.GetSongs(generator_pb2.GetSongsRequest(song_ids=list(song_ids)),
                                   timeout=self.generate_timeout_s)
        return SongStream(call)


class VotesClient:
    def __init__(self, channel: grpc.Channel, rpc_timeout_s: float = 5.0):
        self._stub = votes_pb2_grpc.VotesStub(channel)
        self.rpc_timeout_s = rpc_timeout_s

    def top_songs(self, release: str, limit: int) -> list[tuple[int, int]]:
        """``(song_id, score)`` of the top-voted songs of ``release``."""
        response = self._stub.TopSongs(votes_pb2.TopSongsRequest(model_release=release, limit=limit),
                                       timeout=self.rpc_timeout_s)
        return [(s.song_id, s.score) for s in response.songs]

