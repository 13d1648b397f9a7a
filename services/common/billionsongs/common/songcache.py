"""The shared song cache in Redis: what the pregeneration worker writes and the
website reads. Keys name the model release (docs/architecture.md, invariant 2), so a new model never
serves old text. Redis holds only what can be rebuilt: every entry can be
generated again from (release, id).

The client is passed in (a ``redis.Redis``), so this module needs no Redis
import and the generator never depends on it.
"""
from __future__ import annotations

from billionsongs.common.ids import parse_song_id
from billionsongs.common.songs import Song

# Songs are pure functions of (release, id): entries may live long; the TTL
# only bounds memory for songs nobody reads again.
DEFAULT_TTL_S = 30 * 24 * 3600


def song_key(release: str, song_id: int) -> str:
    return f"song:{release}:{song_id}"


class SongCache:
    def __init__(self, redis_client, ttl_s: int = DEFAULT_TTL_S):
        self.redis = redis_client
        self.ttl_s = ttl_s

    def get(self, release: str, song_id: int) -> Song | None:
        raw = self.redis.get(song_key(release, song_id))
        return Song.from_json(raw) if raw else None

    def get_many(self, release: str, song_ids: list[int]) -> list[Song | None]:
        if not song_ids:
            return []
        raws = self.redis.mget([song_key(release, i) for i in song_ids])
        return [Song.from_json(r) if r else None for r in raws]

    def put(self, song: Song) -> None:
        self.redis.set(song_key(song.model_release, song.song_id), song.to_json(), ex=self.ttl_s)

    def put_many(self, songs: list[Song]) -> None:
        if not songs:
            return
        pipe = self.redis.pipeline(transaction=False)
        for song in songs:
            pipe.set(song_key(song.model_release, song.song_id), song.to_json(), ex=self.ttl_s)
        pipe.execute()

    def scan_ids(self, release: str, count: int = 1000):
        """Ids of cached songs of ``release`` (good and failed), for seeding the pool."""
        prefix = f"song:{release}:"
        for key in self.redis.scan_iter(match=prefix + "*", count=count):
            key = key.decode() if isinstance(key, bytes) else key
            song_id = parse_song_id(key[len(prefix):])
            if song_id is not None:  # a stray key ("song:r:²") is skipped, not a crash
                yield song_id
