"""Where a song page's text comes from: the Redis song cache, the durable copy of a
voted song (Votes.GetStoredSong), or one generation for the id across the whole fleet.

Single flight: the first request for an uncached id takes a Redis lock
(``SET NX`` with a TTL) and streams the song from the generator, appending each
piece to a Redis list; every other request, on any web replica, follows that list
and the cache instead of asking the generator again. If the holder dies, its lock
expires and a waiter takes over.

The key-value server holds only what can be rebuilt, so when it refuses writes (full
at maxmemory, or read-only) songs still come: the cache and the lock are skipped, the
song is streamed from the generator for this request alone (the generator itself
shares one generation among concurrent requests for an id), and each refusal is
counted in ``web_redis_errors_total``.
"""
from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from flask import g, url_for
from redis.exceptions import RedisError

from billionsongs.common.songcache import SongCache
from billionsongs.common.songpool import pick_random_song
from billionsongs.common.songs import Song
from web import kvstore, metrics
from web.clients import Clients, ServiceError, Unavailable
from web.errors import NoSuchSong
from web.kvstore import WRITE_REFUSED
from web.state import state

log = logging.getLogger(__name__)

RELEASE_KEY = "web:model_release"

# Compare-and-delete, so a holder whose lock already expired never frees another's.
_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def lock_key(release: str, song_id: int) -> str:
    return f"genlock:{release}:{song_id}"


def progress_key(release: str, song_id: int) -> str:
    return f"genprogress:{release}:{song_id}"


@dataclass(frozen=True)
class Piece:
    title: str
    lyrics: str


def random_song_id(redis_client, release: Callable[[], str], rng: random.Random) -> tuple[int, str]:
    """Make Random's pick, ``(song_id, source)``: 3 in 4 from the pregenerated pool, 1 in 4
    from top-voted songs, else a fresh id (billionsongs.common.songpool decides: "pool",
    "top", "fresh"); "uniform" when Redis or the model release cannot be had, so the
    front door never breaks."""
    try:
        song_id, source = pick_random_song(redis_client, release(), rng)
    except Exception:
        log.warning("random pick failed; using a uniform id", exc_info=True)
        song_id, source = rng.getrandbits(64), "uniform"
    metrics.RANDOM_SOURCE.labels(source).inc()
    return song_id, source


class ReleaseTracker:
    """The generator's current model release, cached per worker and refreshed.

    When the generator is down we keep serving the last known release (from this
    worker, else from Redis), so cached songs keep working.
    """

    def __init__(self, clients: Clients, redis, refresh_s: float = 30.0):
        self.clients = clients
        self.redis = redis
        self.refresh_s = refresh_s
        self._value = ""
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            if self._value and time.monotonic() - self._fetched_at < self.refresh_s:
                return self._value
            try:
                value = self.clients.model_release()
                if not value:  # a warming generator does not know its release yet
                    raise Unavailable("the generator has no model release yet (warming up)")
            except ServiceError:
                value = self._value or self._remembered()
                if not value:
                    raise
                # retry the generator soon, but not on every request
                self._fetched_at = time.monotonic() - self.refresh_s + 2.0
                self._value = value
                return value
            self._value, self._fetched_at = value, time.monotonic()
        try:
            self.redis.set(RELEASE_KEY, value)
        except Exception:  # Redis down: the release is only a fallback hint there
            log.warning("could not remember the model release in Redis", exc_info=True)
        return value

    def expire(self, _seen: str = "") -> None:
        """Ask the generator again on the next ``current()``: a song of another
        release came back, so the one we hold may be out of date."""
        with self._lock:
            self._fetched_at = float("-inf")

    def known(self) -> str:
        """The last release this worker or Redis saw, without asking the generator."""
        return self._value or self._remembered()

    def _remembered(self) -> str:
        try:
            raw = self.redis.get(RELEASE_KEY)
        except Exception:
            return ""
        return raw.decode() if isinstance(raw, bytes) else (raw or "")


class SongStore:
    def __init__(self, clients: Clients, redis, *, lock_ttl_s: float = 150.0, wait_s: float = 150.0,
                 poll_s: float = 0.1, on_other_release=None):
        # Called with the release of a song that came back from another release than
        # asked for (a rolling update): the app's ReleaseTracker then asks again.
        self.on_other_release = on_other_release
        self.clients = clients
        self.redis = redis
        self.cache = SongCache(redis)
        self.lock_ttl_s = lock_ttl_s
        self.wait_s = wait_s
        self.poll_s = poll_s

    def lookup(self, release: str, song_id: int) -> tuple[Song | None, str]:
        """A ready song and where it came from ("cache" or "stored"), or (None, "")."""
        song = self.cache.get(release, song_id)
        if song is not None:
            return song, "cache"
        try:
            stored = self.clients.stored_song(song_id, release)
        except ServiceError:
            stored = None  # votes down: we can still generate
        if stored is None:
            return None, ""
        self._cache_put(stored)
        return stored, "stored"

    def _cache_put(self, song: Song) -> None:
        try:
            self.cache.put(song)
        except WRITE_REFUSED as error:
            kvstore.worked_around("cache_put", error)
            log.warning("song %s not cached: the key-value server refuses writes: %s", song.song_id, error)

    def generate(self, release: str, song_id: int) -> Iterator[Piece | Song]:
        """Pieces of the song as it is written, then the finished song (maybe failed),
        whose ``model_release`` is the one that wrote it: during a rolling update that
        may be newer than ``release``; the caller shows it under its own release.

        Raises ``Unavailable`` when the generator cannot be reached or the wait is over.
        """
        deadline = time.monotonic() + self.wait_s
        while True:
            song = self.cache.get(release, song_id)
            if song is not None:
                yield song
                return
            token = secrets.token_hex(8)
            try:
                locked = self.redis.set(lock_key(release, song_id), token, nx=True, px=int(self.lock_ttl_s * 1000))
            except WRITE_REFUSED as error:
                kvstore.worked_around("generation_lock", error)
                log.warning("song %s generated without single flight: the key-value server refuses writes: %s",
                            song_id, error)
                yield from self._generate_alone(release, song_id)
                return
            if locked:
                yield from self._generate_holding_lock(release, song_id, token)
                return
            done = yield from self._follow(release, song_id, deadline)
            if done:
                return
            if time.monotonic() > deadline:
                raise Unavailable("timed out waiting for another request's generation")

    def _finished(self, release: str, song: Song) -> Song:
        song = song if song.model_release else replace(song, model_release=release)
        # Under the release that wrote it, and only there: the asked-for (older)
        # release's key and ETag never get another model's text.
        self._cache_put(song)
        if song.model_release != release:  # a new model rolled out meanwhile
            log.info("song %s came back from model release %s, not %s", song.song_id, song.model_release, release)
            if self.on_other_release is not None:
                self.on_other_release(song.model_release)
        return song

    def _generate_alone(self, release: str, song_id: int) -> Iterator[Piece | Song]:
        """The song straight from the generator, for this request only (no lock, no
        progress list: the key-value server refuses writes)."""
        for item in self.clients.stream_song(song_id):
            if isinstance(item, Song):
                yield self._finished(release, item)
                return
            yield Piece(*item)

    def _generate_holding_lock(self, release: str, song_id: int, token: str) -> Iterator[Piece | Song]:
        progress = progress_key(release, song_id)
        share = True  # followers read the pieces from the progress list while it takes writes
        try:
            for item in self.clients.stream_song(song_id):
                if isinstance(item, Song):
                    yield self._finished(release, item)
                    return
                if share:
                    try:
                        pipe = self.redis.pipeline(transaction=False)
                        pipe.rpush(progress, json.dumps(item, ensure_ascii=False))
                        pipe.pexpire(progress, int(self.lock_ttl_s * 1000))
                        pipe.execute()
                    except WRITE_REFUSED as error:
                        # Followers then wait for the cache, or take over once the lock is gone.
                        kvstore.worked_around("generation_progress", error)
                        share = False
                yield Piece(*item)
        finally:
            try:
                self.redis.delete(progress)
                self.redis.eval(_UNLOCK, 1, lock_key(release, song_id), token)
            except RedisError as error:  # the lock expires by itself
                kvstore.worked_around("generation_unlock", error)

    def _follow(self, release: str, song_id: int, deadline: float):
        """Follow another request's generation; True when the song was yielded."""
        offset = 0
        while time.monotonic() < deadline:
            song = self.cache.get(release, song_id)
            if song is not None:
                yield song
                return True
            for raw in self.redis.lrange(progress_key(release, song_id), offset, -1):
                offset += 1
                yield Piece(*json.loads(raw))
            if not self.redis.exists(lock_key(release, song_id)):
                return False  # the holder finished or died: look again, maybe take over
            time.sleep(self.poll_s)
        return False


# --- for the views: this request's song store (web.state) -------------------------------

def random_pick(rng: random.Random | None = None) -> tuple[int, str]:
    """Make Random's pick for this request: ``(song_id, source)`` (random_song_id)."""
    rng = rng or g.setdefault("rng", random.SystemRandom())
    return random_song_id(state().redis, state().release.current, rng)


def random_song_url() -> str:
    """Where Make Random sends a visitor. Pooled and top songs are known to be good;
    any other id (empty pool, Redis trouble) may fail, so it carries ?fallback=random."""
    song_id, source = random_pick()
    path = url_for("songs.song", id_text=str(song_id))
    return path if source in ("pool", "top") else path + "?fallback=random"


def ready_song(song_id: int) -> Song:
    """The finished song (generated now if need be), or 404; for votes and the API."""
    release = state().release.current()
    found, _ = state().songs.lookup(release, song_id)
    if found is None:
        for event in state().songs.generate(release, song_id):
            if isinstance(event, Song):
                found = event
    if found is None or found.failed:
        raise NoSuchSong()
    return found
