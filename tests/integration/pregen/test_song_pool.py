"""The shared pool and the random pick, against a real Redis server."""
from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
import redis

from billionsongs.common.ids import MAX_SONG_ID
from billionsongs.common.songpool import SongPool, TopSongs, pick_random_song, pool_key, pool_uses_key, top_key

RELEASE = "rel-a"


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_add_stops_at_target_and_skips_pooled_ids(r):
    pool = SongPool(r, RELEASE, target_size=5, uses_per_song=3)
    assert pool.add([1, 2, 3]) == 3
    assert pool.add([3, 4]) == 1  # 3 is already pooled
    assert pool.add([5, 6, 7]) == 1  # only one slot left
    assert pool.size() == 5 and pool.missing() == 0
    assert pool.add([8]) == 0
    assert set(map(int, r.smembers(pool_key(RELEASE)))) == {1, 2, 3, 4, 5}
    assert pool.add([]) == 0


def test_readding_does_not_refresh_uses(r):
    pool = SongPool(r, RELEASE, target_size=10, uses_per_song=3)
    pool.add([42])
    assert pool.take() == 42
    pool.add([42])
    assert pool.uses_left(42) == 2


def test_each_id_is_served_exactly_n_times(r):
    pool = SongPool(r, RELEASE, target_size=100, uses_per_song=4)
    ids = [7, MAX_SONG_ID, 2**63 + 5]  # uint64 above int64 must survive the round trip
    pool.add(ids)
    served = Counter()
    while (song_id := pool.take()) is not None:
        served[song_id] += 1
        assert sum(served.values()) <= 12, "served more than ids x uses"
    assert served == {i: 4 for i in ids}
    assert pool.size() == 0
    assert r.exists(pool_uses_key(RELEASE)) == 0, "spent ids must leave the uses hash too"


def test_take_on_empty_pool_is_none(r):
    assert SongPool(r, RELEASE).take() is None


def test_releases_do_not_share_a_pool(r):
    SongPool(r, "old", uses_per_song=1).add([1])
    assert SongPool(r, "new").take() is None
    assert SongPool(r, "old").take() == 1


def test_concurrent_adders_never_overfill_and_lose_no_ids(redis_url):
    target, uses = 500, 2
    results: dict[int, int] = {}

    def adder(worker: int):
        client = redis.Redis.from_url(redis_url)
        pool = SongPool(client, RELEASE, target_size=target, uses_per_song=uses)
        added = 0
        base = worker * 10_000
        for start in range(0, 600, 7):  # 600 ids each, together more than the target
            added += pool.add(range(base + start, base + min(start + 7, 600)))
        results[worker] = added
        client.close()

    threads = [threading.Thread(target=adder, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    client = redis.Redis.from_url(redis_url)
    pooled = set(map(int, client.smembers(pool_key(RELEASE))))
    uses_of = {int(k): int(v) for k, v in client.hgetall(pool_uses_key(RELEASE)).items()}
    client.close()
    assert len(pooled) == target
    assert sum(results.values()) == target, "every id reported as added is in the pool"
    assert uses_of == {i: uses for i in pooled}


def test_concurrent_takers_spend_every_use_exactly_once(redis_url):
    ids, uses = list(range(1, 51)), 6
    client = redis.Redis.from_url(redis_url)
    SongPool(client, RELEASE, uses_per_song=uses).add(ids)
    taken: list[list[int]] = [[] for _ in range(4)]

    def taker(n: int):
        c = redis.Redis.from_url(redis_url)
        pool = SongPool(c, RELEASE)
        while (song_id := pool.take()) is not None:
            taken[n].append(song_id)
        c.close()

    threads = [threading.Thread(target=taker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    served = Counter(i for part in taken for i in part)
    assert served == {i: uses for i in ids}
    client.close()


def test_top_pick_is_weighted_by_positive_score(r):
    top = TopSongs(r, RELEASE)
    weights = {11: 1, 22: 2, 33: 7}
    assert top.replace([(11, 1), (22, 2), (44, 0), (55, -3), (33, 7)]) == 3
    rng = random.Random(20261123)
    draws = 6000
    counts = Counter(top.pick(rng) for _ in range(draws))
    assert set(counts) == set(weights), "songs with score <= 0 must never be picked"
    total = sum(weights.values())
    chi2 = sum((counts[i] - draws * w / total) ** 2 / (draws * w / total) for i, w in weights.items())
    # df = 2: P(chi2 > 13.8) = 0.001 when the weighting is right; a uniform pick gives ~2000.
    assert chi2 < 13.8, (counts, chi2)


def test_top_replace_swaps_the_whole_list(r):
    top = TopSongs(r, RELEASE)
    top.replace([(1, 5), (2, 5)])
    top.replace([(3, 4)])
    rng = random.Random(1)
    assert {top.pick(rng) for _ in range(50)} == {3}
    assert top.replace([(4, 0), (5, -1)]) == 0
    assert top.pick(rng) is None and r.exists(top_key(RELEASE)) == 0


def test_pick_takes_three_in_four_from_the_pool(r):
    SongPool(r, RELEASE, uses_per_song=1000).add(range(1, 101))
    TopSongs(r, RELEASE).replace([(10**6, 3), (10**6 + 1, 1)])
    rng = random.Random(7)
    n = 4000
    sources = Counter()
    for _ in range(n):
        song_id, source = pick_random_song(r, RELEASE, rng)
        sources[source] += 1
        assert (song_id <= 100) == (source == "pool")
    # Binomial(4000, 0.75): sd ~ 27; 5 sd bounds never fail by chance with this seed
    # and still catch a 1 in 2 or 9 in 10 split.
    assert abs(sources["pool"] - 0.75 * n) < 5 * (n * 0.75 * 0.25) ** 0.5, sources
    assert sources["pool"] + sources["top"] == n
    assert SongPool(r, RELEASE).uses_left(1) < 1000, "pool picks spend uses"


def test_pick_falls_back_pool_top_fresh(r):
    rng = random.Random(3)
    # Both empty: a fresh uint64, every time.
    picks = [pick_random_song(r, RELEASE, rng) for _ in range(20)]
    assert {s for _, s in picks} == {"fresh"}
    assert all(0 <= i <= MAX_SONG_ID for i, _ in picks) and len({i for i, _ in picks}) == 20
    # Only top-voted: every pick comes from there (also the 3 in 4 aimed at the pool).
    TopSongs(r, RELEASE).replace([(99, 1)])
    assert {pick_random_song(r, RELEASE, rng) for _ in range(20)} == {(99, "top")}
    # Only the pool: every pick comes from it (also the 1 in 4 aimed at top-voted).
    TopSongs(r, RELEASE).replace([])
    SongPool(r, RELEASE, uses_per_song=100).add([5])
    assert {pick_random_song(r, RELEASE, rng) for _ in range(20)} == {(5, "pool")}


def test_flush_and_script_loss_are_harmless(r):
    pool = SongPool(r, RELEASE, target_size=3)
    top = TopSongs(r, RELEASE)
    pool.add([1, 2])
    top.replace([(9, 1)])
    r.flushall()
    r.script_flush()  # what a restarted Redis looks like to a cached EVALSHA
    assert pool.take() is None and top.pick() is None and pool.size() == 0
    assert pick_random_song(r, RELEASE, random.Random(0))[1] == "fresh"
    assert pool.add([3]) == 1 and pool.take() == 3


def test_works_with_decoded_responses(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pool = SongPool(client, RELEASE, uses_per_song=1)
    pool.add([MAX_SONG_ID])
    TopSongs(client, RELEASE).replace([(8, 2)])
    assert pool.take() == MAX_SONG_ID
    assert TopSongs(client, RELEASE).pick() == 8
    client.close()
