"""Small in-memory Generator and Votes servicers, served by real gRPC servers on
port 0, so the web app's tests go through real channels, deadlines and status codes."""
from __future__ import annotations

import re
import threading
import time

import grpc

from billionsongs.common.grpcserver import abort_exhausted, create_server
from billionsongs.v1 import generator_pb2, generator_pb2_grpc, votes_pb2, votes_pb2_grpc
from web.settings import WebSettings

RELEASE = "rel-test-1"


def fake_song(song_id: int) -> tuple[str, str]:
    return (f"Song of {song_id % 1000}",
            f"I counted to {song_id} in the rain\nand every number sang\n\nla la {song_id % 7}\n")


class FakeGenerator(generator_pb2_grpc.GeneratorServicer):
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Healthy, serving RELEASE, no calls seen: each test's starting point."""
        self.release = RELEASE
        self.down = False
        self.failed_ids: set[int] = set()
        self.piece_delay_s = 0.0
        self.calls: list[int] = []
        self.request_ids: list[str] = []  # x-request-id metadata of each generation call

    def _check(self, context):
        if self.down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "generator is down (test)")

    def _song(self, song_id):
        title, lyrics = fake_song(song_id)
        if self.release != RELEASE:  # another model writes other words
            lyrics += f"as written by {self.release}\n"
        failed = song_id in self.failed_ids
        return generator_pb2.Song(song_id=song_id, title="" if failed else title, lyrics="" if failed else lyrics,
                                  model_release=self.release, failed=failed,
                                  failure="no end of text" if failed else "", token_count=10)

    def GetModelInfo(self, request, context):
        self._check(context)
        return generator_pb2.ModelInfo(model_release=self.release, model_name="fake")

    def GetSong(self, request, context):
        self._check(context)
        with self.lock:
            self.calls.append(request.song_id)
        return self._song(request.song_id)

    def StreamSong(self, request, context):
        self._check(context)
        with self.lock:
            self.calls.append(request.song_id)
            self.request_ids.append(dict(context.invocation_metadata()).get("x-request-id", ""))
        song = self._song(request.song_id)
        if not song.failed:
            yield generator_pb2.StreamSongResponse(piece=generator_pb2.SongPiece(title=song.title))
            for line in song.lyrics.splitlines(keepends=True):
                if self.piece_delay_s:
                    time.sleep(self.piece_delay_s)
                yield generator_pb2.StreamSongResponse(piece=generator_pb2.SongPiece(lyrics=line))
        yield generator_pb2.StreamSongResponse(song=song)


class FakeVotes(votes_pb2_grpc.VotesServicer):
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Up, no accounts, no votes: each test's starting point."""
        self.down = False
        self.busy_retry_s: float | None = None  # set: every call is RESOURCE_EXHAUSTED with this hint
        self.users: dict[str, list] = {}  # lower name -> [id, name, password, session generation]
        self.votes: dict[tuple[int, int, str], int] = {}  # (user, song, release) -> vote
        self.stored: dict[tuple[int, str], tuple[str, str]] = {}
        self.vote_times: dict[tuple[int, int, str], float] = {}

    def _check(self, context):
        if self.down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "votes is down (test)")
        if self.busy_retry_s is not None:
            abort_exhausted(context, "votes is busy (test)", self.busy_retry_s)

    def Register(self, request, context):
        self._check(context)
        if len(request.password) < 8:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "passwords need at least 8 characters")
        if request.username.lower() in self.users:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "taken")
        user_id = max((u[0] for u in self.users.values()), default=0) + 1
        self.users[request.username.lower()] = found = [user_id, request.username, request.password, 1]
        return votes_pb2.RegisterResponse(user=self._user(found))

    @staticmethod
    def _user(found) -> votes_pb2.User:
        return votes_pb2.User(user_id=found[0], username=found[1], session_generation=found[3])

    def _by_id(self, user_id):
        return next((u for u in self.users.values() if u[0] == user_id), None)

    def Authenticate(self, request, context):
        self._check(context)
        found = self.users.get(request.username.lower())
        if not found or found[2] != request.password:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong user name or password")
        return votes_pb2.AuthenticateResponse(user=self._user(found))

    def CheckSession(self, request, context):
        self._check(context)
        found = self._by_id(request.user_id)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such account")
        if found[3] != request.session_generation:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "session ended")
        return votes_pb2.CheckSessionResponse(user=self._user(found))

    def EndSessions(self, request, context):
        self._check(context)
        found = self._by_id(request.user_id)
        if found is not None and found[3] == request.session_generation:
            found[3] += 1
        return votes_pb2.EndSessionsResponse()

    def ChangePassword(self, request, context):
        self._check(context)
        found = self._by_id(request.user_id)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such account")
        if found[2] != request.old_password:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong password")
        if len(request.new_password) < 8:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "passwords need at least 8 characters")
        found[2], found[3] = request.new_password, found[3] + 1
        return votes_pb2.ChangePasswordResponse(user=self._user(found))

    def DeleteAccount(self, request, context):
        self._check(context)
        found = self._by_id(request.user_id)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such account")
        if found[2] != request.password:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong password")
        del self.users[found[1].lower()]
        for key in [k for k in self.votes if k[0] == request.user_id]:
            del self.votes[key]
        return votes_pb2.DeleteAccountResponse()

    def _counts(self, song_id, release, user_id):
        up = sum(1 for (u, s, r), v in self.votes.items() if s == song_id and r == release and v == 1)
        down = sum(1 for (u, s, r), v in self.votes.items() if s == song_id and r == release and v == 2)
        return votes_pb2.SongVotes(song_id=song_id, model_release=release, up=up, down=down, score=up - down,
                                   mine=self.votes.get((user_id, song_id, release), 0))

    def CastVote(self, request, context):
        self._check(context)
        if "\0" in request.title or "\0" in request.lyrics:  # as the real service (PostgreSQL text)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "title must not contain NUL characters")
        key = (request.user_id, request.song_id, request.model_release)
        if request.vote:
            self.votes[key] = request.vote
            self.vote_times[key] = time.time()
        else:
            self.votes.pop(key, None)
        self.stored.setdefault((request.song_id, request.model_release), (request.title, request.lyrics))
        return votes_pb2.CastVoteResponse(votes=self._counts(request.song_id, request.model_release, request.user_id))

    def GetSongVotes(self, request, context):
        self._check(context)
        return votes_pb2.GetSongVotesResponse(votes=self._counts(request.song_id, request.model_release,
                                                                 request.user_id))

    def TopSongs(self, request, context):
        self._check(context)
        songs = {s for (_, s, r) in self.votes if r == request.model_release}
        rows = []
        for s in songs:
            c = self._counts(s, request.model_release, 0)
            rows.append(votes_pb2.TopSong(song_id=s, title=self.stored[(s, request.model_release)][0],
                                          up=c.up, down=c.down, score=c.score))
        rows.sort(key=lambda r: (-r.score, r.song_id))
        return votes_pb2.TopSongsResponse(songs=rows[:request.limit or 10])

    def UserVotes(self, request, context):
        self._check(context)
        mine = [(t, s, self.votes[(u, s, r)]) for (u, s, r), t in self.vote_times.items()
                if u == request.user_id and r == request.model_release and (u, s, r) in self.votes]
        mine.sort(reverse=True)
        return votes_pb2.UserVotesResponse(votes=[
            votes_pb2.UserVote(song_id=s, title=self.stored[(s, request.model_release)][0], vote=v)
            for _, s, v in mine])

    def GetStoredSong(self, request, context):
        self._check(context)
        found = self.stored.get((request.song_id, request.model_release))
        if not found:
            context.abort(grpc.StatusCode.NOT_FOUND, "nobody voted on it")
        return votes_pb2.GetStoredSongResponse(song_id=request.song_id, title=found[0], lyrics=found[1],
                                               model_release=request.model_release)


class FakeBackends:
    """Both fakes on real gRPC servers; ``stop()`` shuts them down."""

    def __init__(self):
        self.generator = FakeGenerator()
        self.votes = FakeVotes()
        self.generator_server = create_server(
            "127.0.0.1:0", [lambda s: generator_pb2_grpc.add_GeneratorServicer_to_server(self.generator, s)],
            ["billionsongs.v1.Generator"])
        self.votes_server = create_server(
            "127.0.0.1:0", [lambda s: votes_pb2_grpc.add_VotesServicer_to_server(self.votes, s)],
            ["billionsongs.v1.Votes"])
        for server in (self.generator_server, self.votes_server):
            server.server.start()
            server.set_serving(True)

    @property
    def generator_target(self) -> str:
        return f"127.0.0.1:{self.generator_server.port}"

    @property
    def votes_target(self) -> str:
        return f"127.0.0.1:{self.votes_server.port}"

    def stop(self) -> None:
        self.generator_server.server.stop(None)
        self.votes_server.server.stop(None)


def make_settings(fakes, redis_url, **overrides) -> WebSettings:
    values = dict(bind="127.0.0.1:0", workers=1, threads=4, generator_target=fakes.generator_target,
                  votes_target=fakes.votes_target, redis_url=redis_url, secret_key="test-secret",
                  session_cookie_secure=False, song_s_maxage=2592000, song_max_age=3600,
                  public_url="https://songs.example", proxy_hops=0, registrations_per_minute=1000,
                  login_attempts_per_minute=5,
                  stream_after_s=1.0, generation_timeout_s=10.0, metrics_port=0, log_level="INFO", log_format="text")
    values.update(overrides)
    return WebSettings(**values)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*? value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


class AuthActions:
    def __init__(self, client):
        self.client = client

    def register(self, username="alice", password="correct horse"):
        token = csrf_from(self.client.get("/auth/register").get_data(as_text=True))
        return self.client.post("/auth/register", data={"username": username, "password": password,
                                                        "password2": password, "csrf_token": token})

    def login(self, username="alice", password="correct horse", next_url=""):
        token = csrf_from(self.client.get("/auth/login").get_data(as_text=True))
        return self.client.post("/auth/login", data={"username": username, "password": password,
                                                     "csrf_token": token, "next": next_url})

    def api_token(self) -> str:
        return self.client.get("/api/session").get_json()["csrf_token"]
