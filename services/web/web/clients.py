"""Every outbound gRPC call of the website, as small typed wrappers with deadlines.

Channels are opened on first use in the process that uses them (a gunicorn worker,
after fork), never at import: gRPC's threads do not survive ``fork``. Errors come out
as the few exceptions the views care about, so no view touches ``grpc`` directly.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billionsongs.common.channels import make_channel, retry_after_s
from billionsongs.common.songs import Song
from billionsongs.v1 import generator_pb2, generator_pb2_grpc, votes_pb2, votes_pb2_grpc

# Deadlines (seconds). Short for what a page waits on; generation has its own setting.
FAST_S = 2.0
VOTES_S = 5.0

VOTE_NAMES = {votes_pb2.VOTE_UP: "up", votes_pb2.VOTE_DOWN: "down", votes_pb2.VOTE_NONE: None}
VOTE_VALUES = {"up": votes_pb2.VOTE_UP, "down": votes_pb2.VOTE_DOWN, None: votes_pb2.VOTE_NONE}


class ServiceError(Exception):
    """A backend call failed in a way the visitor cannot fix."""


class Unavailable(ServiceError):
    """The service is down or too slow (UNAVAILABLE, DEADLINE_EXCEEDED, ...)."""


class Busy(Unavailable):
    """The service is at capacity (RESOURCE_EXHAUSTED); ``retry_after_s`` is its hint."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFound(Exception):
    pass


class AlreadyExists(Exception):
    pass


class InvalidArgument(Exception):
    pass


class Unauthenticated(Exception):
    pass


_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED,
                grpc.StatusCode.ABORTED}


def _translate(error: grpc.RpcError) -> Exception:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else "") or ""
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(details)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return AlreadyExists(details)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(details)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Busy(f"{code.name}: {details}", retry_after_s(error))
    if code in _UNAVAILABLE:
        return Unavailable(f"{code.name}: {details}")
    return ServiceError(f"{code.name}: {details}")


@dataclass(frozen=True)
class SongVotes:
    up: int
    down: int
    score: int
    mine: str | None

    def to_json(self) -> dict:
        return {"up": self.up, "down": self.down, "score": self.score, "mine": self.mine}


@dataclass(frozen=True)
class TopSong:
    song_id: int
    title: str
    up: int
    down: int
    score: int


@dataclass(frozen=True)
class UserVote:
    song_id: int
    title: str
    vote: str | None


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    # The account's session generation when this answer was made: a session cookie
    # carries it, and the votes service ends every session by moving it on.
    session_generation: int = 0

    @classmethod
    def from_proto(cls, user) -> User:
        return cls(user.user_id, user.username, user.session_generation)


def _votes(message) -> SongVotes:
    return SongVotes(message.up, message.down, message.score, VOTE_NAMES.get(message.mine))


class Clients:
    """The generator and votes services, as this process sees them."""

    def __init__(self, generator_target: str, votes_target: str, generation_timeout_s: float = 120.0):
        self.generator_target = generator_target
        self.votes_target = votes_target
        self.generation_timeout_s = generation_timeout_s
        self._lock = threading.Lock()
        self._pid = None
        self._channels: dict[str, grpc.Channel] = {}

    def _channel(self, target: str) -> grpc.Channel:
        with self._lock:
            if self._pid != os.getpid():  # first use, or we were forked: start afresh
                self._channels = {}
                self._pid = os.getpid()
            channel = self._channels.get(target)
            if channel is None:
                channel = self._channels[target] = make_channel(target)
            return channel

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                for channel in self._channels.values():
                    channel.close()
            self._channels = {}

    @property
    def _generator(self) -> generator_pb2_grpc.GeneratorStub:
        return generator_pb2_grpc.GeneratorStub(self._channel(self.generator_target))

    @property
    def _votes(self) -> votes_pb2_grpc.VotesStub:
        return votes_pb2_grpc.VotesStub(self._channel(self.votes_target))

    # --- generator -----------------------------------------------------------------

    def model_release(self) -> str:
        try:
            info = self._generator.GetModelInfo(generator_pb2.GetModelInfoRequest(), timeout=FAST_S)
        except grpc.RpcError as error:
            raise _translate(error) from None
        return info.model_release

    def stream_song(self, song_id: int) -> Iterator[tuple[str, str] | Song]:
        """Pieces ``(title, lyrics)`` as they are written, then the finished Song.

        The caller may stop iterating early; the call is then cancelled.
        """
        call = self._generator.StreamSong(generator_pb2.GetSongRequest(song_id=song_id),
                                          timeout=self.generation_timeout_s)
        try:
            for event in call:
                if event.HasField("song"):
                    yield Song.from_proto(event.song)
                    return
                yield (event.piece.title, event.piece.lyrics)
            raise Unavailable("StreamSong ended without a song")
        except grpc.RpcError as error:
            raise _translate(error) from None
        finally:
            call.cancel()

    # --- votes ---------------------------------------------------------------------

    def _call(self, method, request, timeout=VOTES_S):
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise _translate(error) from None

    def register(self, username: str, password: str) -> User:
        reply = self._call(self._votes.Register, votes_pb2.RegisterRequest(username=username, password=password))
        return User.from_proto(reply.user)

    def authenticate(self, username: str, password: str) -> User:
        reply = self._call(self._votes.Authenticate,
                           votes_pb2.AuthenticateRequest(username=username, password=password))
        return User.from_proto(reply.user)

    def check_session(self, user_id: int, session_generation: int) -> User:
        """The account, if a session of this generation is still valid; Unauthenticated
        when its sessions were ended, NotFound when the account is gone."""
        reply = self._call(self._votes.CheckSession, votes_pb2.CheckSessionRequest(
            user_id=user_id, session_generation=session_generation), timeout=FAST_S)
        return User.from_proto(reply.user)

    def end_sessions(self, user_id: int, session_generation: int) -> None:
        self._call(self._votes.EndSessions, votes_pb2.EndSessionsRequest(
            user_id=user_id, session_generation=session_generation))

    def change_password(self, user_id: int, old_password: str, new_password: str) -> User:
        """The account under its new session generation (every older session ended);
        Unauthenticated for a wrong old password, InvalidArgument for a bad new one."""
        reply = self._call(self._votes.ChangePassword, votes_pb2.ChangePasswordRequest(
            user_id=user_id, old_password=old_password, new_password=new_password))
        return User.from_proto(reply.user)

    def delete_account(self, user_id: int, password: str) -> None:
        self._call(self._votes.DeleteAccount, votes_pb2.DeleteAccountRequest(user_id=user_id, password=password))

    def cast_vote(self, user_id: int, song: Song, vote: str | None) -> SongVotes:
        # PostgreSQL text cannot hold NUL, which a weak model can write; it is invisible
        # on the page anyway, so the durable copy leaves it out.
        reply = self._call(self._votes.CastVote, votes_pb2.CastVoteRequest(
            user_id=user_id, song_id=song.song_id, model_release=song.model_release,
            vote=VOTE_VALUES[vote], title=song.title.replace("\0", ""), lyrics=song.lyrics.replace("\0", "")))
        return _votes(reply.votes)

    def song_votes(self, song_id: int, release: str, user_id: int = 0) -> SongVotes:
        reply = self._call(self._votes.GetSongVotes, votes_pb2.GetSongVotesRequest(
            song_id=song_id, model_release=release, user_id=user_id), timeout=FAST_S)
        return _votes(reply.votes)

    def top_songs(self, release: str, limit: int = 10) -> list[TopSong]:
        reply = self._call(self._votes.TopSongs, votes_pb2.TopSongsRequest(model_release=release, limit=limit))
        return [TopSong(s.song_id, s.title, s.up, s.down, s.score) for s in reply.songs]

    def user_votes(self, user_id: int, release: str, limit: int = 100) -> list[UserVote]:
        reply = self._call(self._votes.UserVotes, votes_pb2.UserVotesRequest(
            user_id=user_id, model_release=release, limit=limit))
        return [UserVote(v.song_id, v.title, VOTE_NAMES.get(v.vote)) for v in reply.votes]

    def stored_song(self, song_id: int, release: str) -> Song | None:
        try:
            reply = self._call(self._votes.GetStoredSong, votes_pb2.GetStoredSongRequest(
                song_id=song_id, model_release=release), timeout=FAST_S)
        except NotFound:
            return None
        return Song(song_id=reply.song_id, model_release=reply.model_release or release, title=reply.title,
                    lyrics=reply.lyrics)

    # --- readiness -----------------------------------------------------------------

    def serving(self, which: str) -> bool:
        """True when ``which`` ("generator" or "votes") answers its health check SERVING."""
        target = self.generator_target if which == "generator" else self.votes_target
        stub = health_pb2_grpc.HealthStub(self._channel(target))
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=FAST_S)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING
