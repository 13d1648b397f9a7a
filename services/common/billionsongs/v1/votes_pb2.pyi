from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Vote(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOTE_NONE: _ClassVar[Vote]
    VOTE_UP: _ClassVar[Vote]
    VOTE_DOWN: _ClassVar[Vote]
VOTE_NONE: Vote
VOTE_UP: Vote
VOTE_DOWN: Vote

class User(_message.Message):
    __slots__ = ("user_id", "username", "session_generation")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_GENERATION_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    username: str
    session_generation: int
    def __init__(self, user_id: _Optional[int] = ..., username: _Optional[str] = ..., session_generation: _Optional[int] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("username", "password")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class AuthenticateRequest(_message.Message):
    __slots__ = ("username", "password")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class AuthenticateResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class ChangePasswordRequest(_message.Message):
    __slots__ = ("user_id", "old_password", "new_password")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    old_password: str
    new_password: str
    def __init__(self, user_id: _Optional[int] = ..., old_password: _Optional[str] = ..., new_password: _Optional[str] = ...) -> None: ...

class ChangePasswordResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class DeleteAccountRequest(_message.Message):
    __slots__ = ("user_id", "password")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    password: str
    def __init__(self, user_id: _Optional[int] = ..., password: _Optional[str] = ...) -> None: ...

class DeleteAccountResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckSessionRequest(_message.Message):
    __slots__ = ("user_id", "session_generation")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_GENERATION_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    session_generation: int
    def __init__(self, user_id: _Optional[int] = ..., session_generation: _Optional[int] = ...) -> None: ...

class CheckSessionResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class EndSessionsRequest(_message.Message):
    __slots__ = ("user_id", "session_generation")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_GENERATION_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    session_generation: int
    def __init__(self, user_id: _Optional[int] = ..., session_generation: _Optional[int] = ...) -> None: ...

class EndSessionsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CastVoteRequest(_message.Message):
    __slots__ = ("user_id", "song_id", "model_release", "vote", "title", "lyrics")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LYRICS_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    song_id: int
    model_release: str
    vote: Vote
    title: str
    lyrics: str
    def __init__(self, user_id: _Optional[int] = ..., song_id: _Optional[int] = ..., model_release: _Optional[str] = ..., vote: _Optional[_Union[Vote, str]] = ..., title: _Optional[str] = ..., lyrics: _Optional[str] = ...) -> None: ...

class SongVotes(_message.Message):
    __slots__ = ("song_id", "model_release", "up", "down", "score", "mine")
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    DOWN_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MINE_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    model_release: str
    up: int
    down: int
    score: int
    mine: Vote
    def __init__(self, song_id: _Optional[int] = ..., model_release: _Optional[str] = ..., up: _Optional[int] = ..., down: _Optional[int] = ..., score: _Optional[int] = ..., mine: _Optional[_Union[Vote, str]] = ...) -> None: ...

class CastVoteResponse(_message.Message):
    __slots__ = ("votes",)
    VOTES_FIELD_NUMBER: _ClassVar[int]
    votes: SongVotes
    def __init__(self, votes: _Optional[_Union[SongVotes, _Mapping]] = ...) -> None: ...

class GetSongVotesRequest(_message.Message):
    __slots__ = ("song_id", "model_release", "user_id")
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    model_release: str
    user_id: int
    def __init__(self, song_id: _Optional[int] = ..., model_release: _Optional[str] = ..., user_id: _Optional[int] = ...) -> None: ...

class GetSongVotesResponse(_message.Message):
    __slots__ = ("votes",)
    VOTES_FIELD_NUMBER: _ClassVar[int]
    votes: SongVotes
    def __init__(self, votes: _Optional[_Union[SongVotes, _Mapping]] = ...) -> None: ...

class TopSongsRequest(_message.Message):
    __slots__ = ("model_release", "limit")
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    model_release: str
    limit: int
    def __init__(self, model_release: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class TopSong(_message.Message):
    __slots__ = ("song_id", "title", "up", "down", "score")
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    DOWN_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    title: str
    up: int
    down: int
    score: int
    def __init__(self, song_id: _Optional[int] = ..., title: _Optional[str] = ..., up: _Optional[int] = ..., down: _Optional[int] = ..., score: _Optional[int] = ...) -> None: ...

class TopSongsResponse(_message.Message):
    __slots__ = ("songs",)
    SONGS_FIELD_NUMBER: _ClassVar[int]
    songs: _containers.RepeatedCompositeFieldContainer[TopSong]
    def __init__(self, songs: _Optional[_Iterable[_Union[TopSong, _Mapping]]] = ...) -> None: ...

class UserVotesRequest(_message.Message):
    __slots__ = ("user_id", "model_release", "limit", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    model_release: str
    limit: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., model_release: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class UserVote(_message.Message):
    __slots__ = ("song_id", "title", "vote", "voted_at_us")
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    VOTED_AT_US_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    title: str
    vote: Vote
    voted_at_us: int
    def __init__(self, song_id: _Optional[int] = ..., title: _Optional[str] = ..., vote: _Optional[_Union[Vote, str]] = ..., voted_at_us: _Optional[int] = ...) -> None: ...

class UserVotesResponse(_message.Message):
    __slots__ = ("votes", "next_page_token")
    VOTES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    votes: _containers.RepeatedCompositeFieldContainer[UserVote]
    next_page_token: str
    def __init__(self, votes: _Optional[_Iterable[_Union[UserVote, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetStoredSongRequest(_message.Message):
    __slots__ = ("song_id", "model_release")
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    model_release: str
    def __init__(self, song_id: _Optional[int] = ..., model_release: _Optional[str] = ...) -> None: ...

class GetStoredSongResponse(_message.Message):
    __slots__ = ("song_id", "title", "lyrics", "model_release")
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LYRICS_FIELD_NUMBER: _ClassVar[int]
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    title: str
    lyrics: str
    model_release: str
    def __init__(self, song_id: _Optional[int] = ..., title: _Optional[str] = ..., lyrics: _Optional[str] = ..., model_release: _Optional[str] = ...) -> None: ...
