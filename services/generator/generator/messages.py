"""What crosses the pipe between the server process and a worker process, and
what the pool hands to an RPC handler: small frozen dataclasses, matched by type
(``isinstance`` or ``match``), never tuples whose first string says what they are.

Everything here pickles (multiprocessing sends it) and imports no torch.

server -> worker: Generate, Stream, Expedite, Cancel, Stop
worker -> server: Ready, StartFailed, Piece, Done, Stats
pool -> RPC handler (a Subscription's events): Piece, Done, Failed, Cancelled
"""
from __future__ import annotations

from dataclasses import dataclass

from billionsongs.common.songs import Song

# -- server -> worker ---------------------------------------------------------------

@dataclass(frozen=True)
class Generate:
    """Start these songs (ids already running in this worker are skipped)."""
    song_ids: tuple[int, ...]
    stream: bool   # send Piece messages as the text is written
    urgent: bool   # a visitor waits: before bulk pregeneration


@dataclass(frozen=True)
class Stream:
    """A song already running here gets a streaming subscriber: send its pieces from now on."""
    song_id: int


@dataclass(frozen=True)
class Expedite:
    """A visitor now waits for a song queued as bulk: move it ahead."""
    song_id: int


@dataclass(frozen=True)
class Cancel:
    """Nobody wants the song any more: stop generating it."""
    song_id: int


@dataclass(frozen=True)
class Stop:
    """Exit once the current step is done."""


# -- worker -> server ---------------------------------------------------------------

@dataclass(frozen=True)
class Ready:
    """The model is loaded and warm."""
    device: str    # "cpu" or "cuda": part of the model release id


@dataclass(frozen=True)
class StartFailed:
    """The worker could not load the model; it exits after sending this."""
    error: str     # the traceback


@dataclass(frozen=True)
class Piece:
    """Text of a song being written that can no longer change: the title's and the
    lyrics' next characters (either may be empty, never both)."""
    song_id: int
    title: str
    lyrics: str


@dataclass(frozen=True)
class Done:
    """A finished song (maybe failed); its ``model_release`` is "" until the server names it."""
    song: Song
    token_count: int


@dataclass(frozen=True)
class Stats:
    """The worker's load, every half second while busy and once on going idle."""
    waiting: int   # songs queued for a batch row
    active: int    # batch rows running a song
    tokens: int    # tokens generated since the last Stats
    seconds: float


# -- pool -> RPC handler ------------------------------------------------------------

@dataclass(frozen=True)
class Failed:
    """The song cannot be generated now (shutdown, a worker died twice): UNAVAILABLE."""
    reason: str


@dataclass(frozen=True)
class Cancelled:
    """The RPC ended (cancelled or past its deadline) while its handler waited."""


ToWorker = Generate | Stream | Expedite | Cancel | Stop
FromWorker = Ready | StartFailed | Piece | Done | Stats
Event = Piece | Done | Failed | Cancelled
