"""The gRPC face of the votes service: checks every request, calls the store,
maps errors to status codes (never INTERNAL for anything a client sent)."""
from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time

import grpc
from prometheus_client import Counter

from billionsongs.common.grpcserver import abort_exhausted
from billionsongs.v1 import votes_pb2, votes_pb2_grpc
from votes import songids
from votes.accounts import Passwords, check_password, check_username
from votes.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    VotesError,
)
from votes.store import Store

log = logging.getLogger(__name__)

SERVICE_NAME = votes_pb2.DESCRIPTOR.services_by_name["Votes"].full_name

VOTES_CAST = Counter("votes_cast_total", "CastVote calls that changed a vote, by the new vote", ["vote"])
ACCOUNTS_REGISTERED = Counter("votes_accounts_registered_total", "Accounts created")
ACCOUNTS_DELETED = Counter("votes_accounts_deleted_total", "Accounts deleted")
AUTH_FAILURES = Counter("votes_auth_failures_total", "Rejected passwords (unknown user or wrong password)")
PASSWORD_REHASHES = Counter("votes_password_rehashes_total", "Hashes upgraded to the current parameters at login")

MODEL_RELEASE_MAX = 128
TITLE_MAX = 1000
LYRICS_MAX_BYTES = 64 * 1024  # ~15x the longest song the generator writes (1024 tokens)
TOP_DEFAULT, USER_VOTES_DEFAULT, LIMIT_MAX = 10, 50, 1000
PAGE_TOKEN_MAX = 512
_DEADLINE_MARGIN = 0.05  # answer UNAVAILABLE before the client gives up on us

_CODES = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_VOTE_TO_INT = {votes_pb2.VOTE_UP: 1, votes_pb2.VOTE_DOWN: -1, votes_pb2.VOTE_NONE: 0}
_INT_TO_VOTE = {v: k for k, v in _VOTE_TO_INT.items()}
WRONG_CREDENTIALS = "wrong username or password"


# -- request checks ------------------------------------------------------------

def _user_id(value: int, field: str = "user_id") -> int:
    if value <= 0:
        raise InvalidArgument(f"{field} must be a positive account id, got {value}")
    return value


def _release(value: str) -> str:
    if not value:
        raise InvalidArgument("model_release is required")
    if len(value) > MODEL_RELEASE_MAX:
        raise InvalidArgument(f"model_release must be at most {MODEL_RELEASE_MAX} characters")
    if not value.isprintable():
        raise InvalidArgument("model_release must not contain control characters")
    return value


def _text(value: str, field: str, max_bytes: int) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail there.
    if "\x00" in value:
        raise InvalidArgument(f"{field} must not contain NUL characters")
    if len(value.encode("utf-8")) > max_bytes:
        raise InvalidArgument(f"{field} must be at most {max_bytes} bytes of UTF-8")
    return value


def _limit(value: int, default: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= LIMIT_MAX:
        raise InvalidArgument(f"limit must be 1..{LIMIT_MAX} (0 for the default {default}), got {value}")
    return value


def _vote(value: int) -> int:
    if value not in _VOTE_TO_INT:
        raise InvalidArgument(f"vote must be VOTE_NONE, VOTE_UP or VOTE_DOWN, got {value}")
    return _VOTE_TO_INT[value]


# Page tokens: base64url of a small JSON object naming the position (voted_at
# in us, song key) and the query it belongs to, so a token used with another
# user or release is refused instead of silently skipping rows.

def encode_page_token(user_id: int, release: str, voted_at_us: int, song_key: int) -> str:
    raw = json.dumps({"u": user_id, "r": release, "t": voted_at_us, "k": song_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str, user_id: int, release: str) -> tuple[int, int] | None:
    if not token:
        return None
    invalid = InvalidArgument("page_token is not one this service issued for this query")
    if len(token) > PAGE_TOKEN_MAX:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if (not isinstance(data, dict) or data.get("u") != user_id or data.get("r") != release
            or type(data.get("t")) is not int or type(data.get("k")) is not int
            or not -2**63 <= data["k"] < 2**63 or not 0 <= data["t"] < 2**62):
        raise invalid
    return data["t"], data["k"]


# -- the servicer ----------------------------------------------------------------

def _rpc(method):
    """Turn VotesErrors into status codes; compute the store's deadline."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        if self.store is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "votes service is starting (migrations not applied yet)")
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining - _DEADLINE_MARGIN
        try:
            return method(self, request, deadline)
        except ResourceExhausted as error:
            abort_exhausted(context, str(error), error.retry_after_s)
        except VotesError as error:
            context.abort(_CODES[type(error)], str(error))
    return wrapper


class VotesService:
    """Implements billionsongs.v1.Votes. ``store`` is None until start-up has
    applied the migrations; calls before that get UNAVAILABLE."""

    def __init__(self, passwords: Passwords, store: Store | None = None):
        self.passwords = passwords
        self.store = store

    # -- accounts

    def _pb_user(self, account, session_generation: int | None = None) -> votes_pb2.User:
        return votes_pb2.User(user_id=account.user_id, username=account.username,
                              session_generation=account.session_generation if session_generation is None
                              else session_generation)

    def _authenticated(self, user_id: int, password: str, deadline):
        """The account if ``password`` is its password; Unauthenticated otherwise."""
        account = self.store.account_by_id(_user_id(user_id), deadline=deadline)
        if not self.passwords.verify(account.password_hash, password, deadline):
            AUTH_FAILURES.inc()
            raise Unauthenticated("wrong password")
        return account

    @_rpc
    def Register(self, request, deadline):
        username = check_username(request.username)
        password = check_password(request.password)
        # Hash outside any transaction: no connection is held while hashing.
        account = self.store.create_account(username, self.passwords.hash(password, deadline),
                                           deadline=deadline)
        ACCOUNTS_REGISTERED.inc()
        return votes_pb2.RegisterResponse(user=self._pb_user(account))

    @_rpc
    def Authenticate(self, request, deadline):
        # A name that breaks the rules cannot exist, but it gets the same
        # answer (and the same hashing work) as any other unknown name.
        try:
            account = self.store.account_by_name(check_username(request.username), deadline=deadline)
        except InvalidArgument:
            account = None
        matches, rehash = self.passwords.check(None if account is None else account.password_hash,
                                               request.password, deadline)
        if not matches:
            AUTH_FAILURES.inc()
            raise Unauthenticated(WRONG_CREDENTIALS)
        # Older argon2 parameters, or a hash of the password before NFKC normalisation.
        # The sign-in has succeeded; when hashing is at capacity the upgrade waits
        # for the next one.
        if rehash:
            try:
                new_hash = self.passwords.hash(request.password, deadline)
            except ResourceExhausted:
                new_hash = None
            if new_hash and self.store.replace_password_hash(account.user_id, account.password_hash,
                                                             new_hash, deadline=deadline) is not None:
                PASSWORD_REHASHES.inc()
        return votes_pb2.AuthenticateResponse(user=self._pb_user(account))

    @_rpc
    def ChangePassword(self, request, deadline):
        new_password = check_password(request.new_password)
        account = self._authenticated(request.user_id, request.old_password, deadline)
        new_hash = self.passwords.hash(new_password, deadline)
        generation = self.store.replace_password_hash(account.user_id, account.password_hash, new_hash,
                                                      end_sessions=True, deadline=deadline)
        if generation is None:
            raise Unauthenticated("the password changed meanwhile; try again")
        return votes_pb2.ChangePasswordResponse(user=self._pb_user(account, generation))

    @_rpc
    def DeleteAccount(self, request, deadline):
        account = self._authenticated(request.user_id, request.password, deadline)
        self.store.delete_account(account.user_id, account.password_hash, deadline=deadline)
        ACCOUNTS_DELETED.inc()
        return votes_pb2.DeleteAccountResponse()

    @_rpc
    def CheckSession(self, request, deadline):
        account = self.store.check_session(_user_id(request.user_id), request.session_generation,
                                           deadline=deadline)
        return votes_pb2.CheckSessionResponse(user=self._pb_user(account))

    @_rpc
    def EndSessions(self, request, deadline):
        self.store.end_sessions(_user_id(request.user_id), request.session_generation, deadline=deadline)
        return votes_pb2.EndSessionsResponse()

    # -- votes

    @staticmethod
    def _song_votes(song_id: int, release: str, counts) -> votes_pb2.SongVotes:
        return votes_pb2.SongVotes(song_id=song_id, model_release=release, up=counts.up, down=counts.down,
                                   score=counts.up - counts.down, mine=_INT_TO_VOTE[counts.mine])

    @_rpc
    def CastVote(self, request, deadline):
        user_id = _user_id(request.user_id)
        release = _release(request.model_release)
        vote = _vote(request.vote)
        title = _text(request.title, "title", TITLE_MAX)
        lyrics = _text(request.lyrics, "lyrics", LYRICS_MAX_BYTES)
        counts, changed = self.store.cast_vote(user_id, release, songids.to_key(request.song_id), vote,
                                               title, lyrics, deadline=deadline)
        if changed:
            VOTES_CAST.labels({1: "up", -1: "down", 0: "none"}[vote]).inc()
        return votes_pb2.CastVoteResponse(votes=self._song_votes(request.song_id, release, counts))

    @_rpc
    def GetSongVotes(self, request, deadline):
        release = _release(request.model_release)
        user_id = None if request.user_id == 0 else _user_id(request.user_id)
        counts = self.store.song_votes(release, songids.to_key(request.song_id), user_id, deadline=deadline)
        return votes_pb2.GetSongVotesResponse(votes=self._song_votes(request.song_id, release, counts))

    @_rpc
    def TopSongs(self, request, deadline):
        release = _release(request.model_release)
        rows = self.store.top_songs(release, _limit(request.limit, TOP_DEFAULT), deadline=deadline)
        return votes_pb2.TopSongsResponse(songs=[
            votes_pb2.TopSong(song_id=songids.from_key(r.song_key), title=r.title, up=r.up, down=r.down,
                              score=r.score) for r in rows])

    @_rpc
    def UserVotes(self, request, deadline):
        user_id = _user_id(request.user_id)
        release = _release(request.model_release)
        limit = _limit(request.limit, USER_VOTES_DEFAULT)
        after = decode_page_token(request.page_token, user_id, release)
        rows, more = self.store.user_votes(user_id, release, limit, after, deadline=deadline)
        token = encode_page_token(user_id, release, rows[-1].voted_at_us, rows[-1].song_key) if more else ""
        return votes_pb2.UserVotesResponse(
            votes=[votes_pb2.UserVote(song_id=songids.from_key(r.song_key), title=r.title,
                                      vote=_INT_TO_VOTE[r.vote], voted_at_us=r.voted_at_us) for r in rows],
            next_page_token=token)

    @_rpc
    def GetStoredSong(self, request, deadline):
        release = _release(request.model_release)
        title, lyrics = self.store.stored_song(release, songids.to_key(request.song_id), deadline=deadline)
        return votes_pb2.GetStoredSongResponse(song_id=request.song_id, title=title, lyrics=lyrics,
                                               model_release=release)


def add_to_server(service: VotesService, server: grpc.Server) -> None:
    """Register ``service`` (requests that do not parse are INVALID_ARGUMENT: the shared
    server's interceptor, billionsongs.common.grpcserver)."""
    votes_pb2_grpc.add_VotesServicer_to_server(service, server)
