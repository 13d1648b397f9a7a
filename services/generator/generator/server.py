"""The gRPC servicer: turns RPCs into pool subscriptions and events
(generator/messages.py) into Song messages. Runs in the server process, which
never imports torch."""
from __future__ import annotations

import collections
import logging
import queue
from collections.abc import Iterator

import grpc

from billionsongs.common.grpcserver import Server, create_server
from billionsongs.v1 import generator_pb2, generator_pb2_grpc
from generator.messages import Cancelled, Done, Event, Failed, Piece
from generator.release import ModelDescription, generation_settings, release_id
from generator.settings import GeneratorSettings
from generator.workers import Subscription, WorkerPool

log = logging.getLogger(__name__)

SERVICE_NAME = generator_pb2.DESCRIPTOR.services_by_name["Generator"].full_name
# The retry hint of a song call refused because every call slot is busy: about the time
# a short song takes on a CPU, when a slot is likely to have freed.
RETRY_AFTER_S = 2.0


class GeneratorService(generator_pb2_grpc.GeneratorServicer):
    def __init__(self, settings: GeneratorSettings, pool: WorkerPool, model: ModelDescription):
        self.settings, self.pool, self.model = settings, pool, model
        self._release: str | None = None

    @property
    def release(self) -> str:
        # Known once a worker has said which device it runs on (the device type is part of it).
        if self._release is None and self.pool.device:
            self._release = release_id(self.model.digest, generation_settings(self.settings, self.pool.device,
                                                                                 self.model.prompt))
        return self._release or ""

    def _song(self, done: Done) -> generator_pb2.Song:
        """The finished song as the gRPC message, named with this server's model release."""
        song = done.song
        return generator_pb2.Song(song_id=song.song_id, title=song.title, lyrics=song.lyrics,
                                  model_release=self.release, failed=song.failed, failure=song.failure,
                                  token_count=done.token_count)

    def _subscribe(self, song_ids, stream: bool, context, urgent: bool = True) -> Subscription:
        sub = self.pool.subscribe(song_ids, stream, urgent)
        # Runs when the RPC ends for any reason: a cancelled or timed-out
        # request stops its generation unless another request still wants it.
        context.add_callback(lambda: self.pool.unsubscribe(sub))
        return sub

    def _events(self, sub: Subscription, context) -> Iterator[Piece | Done]:
        """Pieces and finished songs for ``sub`` until the caller's deadline; a Failed
        or Cancelled event, or the deadline, ends the RPC with its status."""
        while True:
            try:
                event: Event = sub.events.get(timeout=context.time_remaining())
            except queue.Empty:  # the deadline passed
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "song not generated within the deadline")
            match event:
                case Failed(reason=reason):
                    context.abort(grpc.StatusCode.UNAVAILABLE, reason)
                case Cancelled():
                    context.abort(grpc.StatusCode.CANCELLED, "request cancelled")
            yield event

    def GetSong(self, request, context):
        sub = self._subscribe([request.song_id], False, context)
        for event in self._events(sub, context):
            if isinstance(event, Done):
                return self._song(event)

    def GetSongs(self, request, context):
        ids = list(request.song_ids)
        if len(ids) > self.settings.max_songs_per_request:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"{len(ids)} song ids; at most {self.settings.max_songs_per_request} per request")
        if not ids:
            return
        wanted = collections.Counter(ids)
        # Bulk (pregeneration): runs after songs a visitor is waiting for.
        sub = self._subscribe(ids, False, context, urgent=False)
        left = len(wanted)
        for event in self._events(sub, context):
            if isinstance(event, Done):
                song = self._song(event)
                for _ in range(wanted[song.song_id]):  # an id asked twice is answered twice
                    yield song
                left -= 1
                if not left:
                    return

    def StreamSong(self, request, context):
        sub = self._subscribe([request.song_id], True, context)
        for event in self._events(sub, context):
            if isinstance(event, Piece):
                yield generator_pb2.StreamSongResponse(
                    piece=generator_pb2.SongPiece(title=event.title, lyrics=event.lyrics))
            elif isinstance(event, Done):
                yield generator_pb2.StreamSongResponse(song=self._song(event))
                return

    def GetModelInfo(self, request, context):
        if not self.release:
            # No worker is warm yet, so the release (which names the device
            # type) is unknown; callers must not key anything by "".
            context.abort(grpc.StatusCode.UNAVAILABLE, "the generator is warming up")
        s = self.settings
        return generator_pb2.ModelInfo(
            model_release=self.release, model_name=self.model.name, device=self.pool.device or s.device,
            dtype=s.dtype, max_new_tokens=s.max_new_tokens, top_k=s.top_k, temperature=s.temperature,
            max_batch_size=s.max_batch, max_songs_per_request=s.max_songs_per_request,
            worker_mode=s.worker_mode, workers=s.workers, writes_titles=self.model.writes_titles)


def build_server(settings: GeneratorSettings, pool: WorkerPool, model: ModelDescription,
                 address: str | None = None) -> tuple[Server, GeneratorService]:
    service = GeneratorService(settings, pool, model)
    server = create_server(
        address or settings.listen,
        [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(service, s)],
        [SERVICE_NAME],
        max_workers=settings.max_calls,  # song calls mostly wait on their songs, a thread each
        # Answered from memory: never behind the song calls, so the web's release check
        # works however busy the generator is.
        quick_methods=[f"/{SERVICE_NAME}/GetModelInfo"],
        retry_after_s=RETRY_AFTER_S,
    )
    return server, service
