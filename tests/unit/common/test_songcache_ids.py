"""Ids read back from Redis keys are ASCII digits only: a stray key such as
song:<release>:² (isdigit() says yes, int() says no) is skipped, not a crash of pregen."""
from __future__ import annotations

import redis as redis_lib

from billionsongs.common.songcache import SongCache
from billionsongs.common.songs import Song


def test_scan_ids_skips_keys_that_are_not_ascii_song_ids(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    try:
        cache = SongCache(client)
        cache.put(Song(7, "rel", "Seven", "la"))
        cache.put(Song(2**64 - 1, "rel", "Max", "la"))
        for tail in ("²", "٣", "+5", "18446744073709551616", "1_0", "x"):
            client.set(f"song:rel:{tail}", "junk")
        assert sorted(cache.scan_ids("rel")) == [7, 2**64 - 1]
    finally:
        client.close()
