from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSongRequest(_message.Message):
    __slots__ = ("song_id",)
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    def __init__(self, song_id: _Optional[int] = ...) -> None: ...

class GetSongsRequest(_message.Message):
    __slots__ = ("song_ids",)
    SONG_IDS_FIELD_NUMBER: _ClassVar[int]
    song_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, song_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class Song(_message.Message):
    __slots__ = ("song_id", "title", "lyrics", "model_release", "failed", "failure", "token_count")
    SONG_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LYRICS_FIELD_NUMBER: _ClassVar[int]
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    song_id: int
    title: str
    lyrics: str
    model_release: str
    failed: bool
    failure: str
    token_count: int
    def __init__(self, song_id: _Optional[int] = ..., title: _Optional[str] = ..., lyrics: _Optional[str] = ..., model_release: _Optional[str] = ..., failed: _Optional[bool] = ..., failure: _Optional[str] = ..., token_count: _Optional[int] = ...) -> None: ...

class StreamSongResponse(_message.Message):
    __slots__ = ("piece", "song")
    PIECE_FIELD_NUMBER: _ClassVar[int]
    SONG_FIELD_NUMBER: _ClassVar[int]
    piece: SongPiece
    song: Song
    def __init__(self, piece: _Optional[_Union[SongPiece, _Mapping]] = ..., song: _Optional[_Union[Song, _Mapping]] = ...) -> None: ...

class SongPiece(_message.Message):
    __slots__ = ("title", "lyrics")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LYRICS_FIELD_NUMBER: _ClassVar[int]
    title: str
    lyrics: str
    def __init__(self, title: _Optional[str] = ..., lyrics: _Optional[str] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("model_release", "model_name", "device", "dtype", "max_new_tokens", "top_k", "temperature", "max_batch_size", "max_songs_per_request", "worker_mode", "workers", "writes_titles")
    MODEL_RELEASE_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_SONGS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    WORKER_MODE_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    WRITES_TITLES_FIELD_NUMBER: _ClassVar[int]
    model_release: str
    model_name: str
    device: str
    dtype: str
    max_new_tokens: int
    top_k: int
    temperature: float
    max_batch_size: int
    max_songs_per_request: int
    worker_mode: str
    workers: int
    writes_titles: bool
    def __init__(self, model_release: _Optional[str] = ..., model_name: _Optional[str] = ..., device: _Optional[str] = ..., dtype: _Optional[str] = ..., max_new_tokens: _Optional[int] = ..., top_k: _Optional[int] = ..., temperature: _Optional[float] = ..., max_batch_size: _Optional[int] = ..., max_songs_per_request: _Optional[int] = ..., worker_mode: _Optional[str] = ..., workers: _Optional[int] = ..., writes_titles: _Optional[bool] = ...) -> None: ...
