"""The pregeneration worker: keeps the pool of ready songs of the current model
release at its target size.

One loop, one step at a time: check which model release the generator serves
(a new release means a new pool), seed the pool once from songs already in the
cache, mirror the top-voted songs now and then, and, while the pool lacks ids,
ask the generator for a batch of random ids, cache every song and pool the
good ones. A full pool makes the loop idle; a dependency that is down makes it
back off. Several workers may run at once: the pool's Lua scripts keep them
from overfilling it.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info
from redis.exceptions import RedisError

from billionsongs.common.logs import log_fields
from billionsongs.common.songcache import SongCache
from billionsongs.common.songpool import SongPool, TopSongs
from billionsongs.common.songs import Song
from pregen.clients import GeneratorClient, VotesClient
from pregen.settings import Settings

log = logging.getLogger(__name__)

# Songs are cached and pooled in chunks as they stream in, so a batch cut short
# by an outage keeps what was already written.
STORE_EVERY = 16
# Cached ids looked up per round trip while seeding the pool.
SEED_CHUNK = 500
# Used when neither PREGEN_BATCH nor the generator names a batch size.
FALLBACK_BATCH = 32


class Backoff:
    """Exponential back-off with a cap and "equal jitter": the n-th delay is
    uniform in [d/2, d], d = min(max_s, min_s * 2**n). Never zero (no hot loop
    against a dead server) and spread out, so replicas do not retry in step."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None):
        self.min_s = min_s
        self.max_s = max(min_s, max_s)
        self.rng = rng or random.Random()
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.max_s, self.min_s * 2 ** min(self.failures, 60))
        self.failures += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


class PregenMetrics:
    """The worker's Prometheus metrics; tests pass their own registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.pool_size = Gauge("pregen_pool_size", "Ids in the pool of the current release",
                               registry=registry)
        self.pool_target = Gauge("pregen_pool_target_size", "Target size of the pool", registry=registry)
        self.songs = Counter("pregen_songs_generated", "Songs received from the generator, by result",
                             ["result"], registry=registry)
        self.pooled = Counter("pregen_songs_pooled", "Ids added to the pool, by where they came from",
                              ["source"], registry=registry)
        self.errors = Counter("pregen_dependency_errors", "Failed calls, by dependency",
                              ["dependency"], registry=registry)
        self.backoff = Gauge("pregen_backoff_seconds", "Current back-off delay (0 when healthy)",
                             registry=registry)
        self.idle = Counter("pregen_idle_checks", "Steps that found the pool full", registry=registry)
        self.batch_seconds = Histogram("pregen_batch_duration_seconds", "Time of one GetSongs batch",
                                       buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
                                       registry=registry)
        self.top_songs = Gauge("pregen_top_songs", "Top-voted songs mirrored for the pick",
                               registry=registry)
        self.model = Info("pregen_model", "Model release the pool is filled for", registry=registry)
        for result in ("ok", "failed"):
            self.songs.labels(result)
        for source in ("cache", "generated"):
            self.pooled.labels(source)
        for dependency in ("generator", "votes", "redis"):
            self.errors.labels(dependency)


class Worker:
    def __init__(self, settings: Settings, redis_client, generator: GeneratorClient,
                 votes: VotesClient | None, metrics: PregenMetrics | None = None,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.redis = redis_client
        self.generator = generator
        self.votes = votes
        self.metrics = metrics or PregenMetrics()
        # Ids come from the OS-seeded generator by default, so replicas never
        # draw the same sequence.
        self.rng = rng or random.Random()
        self.clock = clock
        self.cache = SongCache(redis_client)
        self.stopping = threading.Event()
        self.release: str | None = None
        self.pool: SongPool | None = None
        self.top: TopSongs | None = None
        self.batch = 0
        self.seeded = False
        self._backoff = Backoff(settings.backoff_min_s, settings.backoff_max_s, self.rng)
        self._votes_backoff = Backoff(settings.backoff_min_s, settings.backoff_max_s, self.rng)
        self._next_model_check = 0.0
        self._next_top_refresh = 0.0
        self._next_log = 0.0
        # Re-entrant: stop() may run in a signal handler on the thread that holds it.
        self._stream_lock = threading.RLock()
        self._stream = None
        self.metrics.pool_target.set(settings.pool_target_size)

    # -- lifecycle ---------------------------------------------------------

    def run(self) -> None:
        """Work until ``stop()``; outages of the generator, votes or Redis are
        logged and waited out, never raised."""
        log.info("pregen worker started", extra=log_fields(
            target=self.settings.pool_target_size, uses=self.settings.pool_uses))
        while not self.stopping.is_set():
            try:
                delay = self.step()
                self._backoff.reset()
                self.metrics.backoff.set(0)
            except grpc.RpcError as error:
                if self.stopping.is_set():
                    break  # our own cancel() of the in-flight batch
                delay = self._failed("generator", error, f"{error.code().name}: {error.details()}")
                # A restarted generator may serve another release or batch size.
                self._next_model_check = 0.0
            except RedisError as error:
                delay = self._failed("redis", error, str(error))
            self.stopping.wait(delay)
        log.info("pregen worker stopped")

    def stop(self) -> None:
        """Ask ``run()`` to return; cancels a batch in flight (safe from any thread
        or a signal handler)."""
        self.stopping.set()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.cancel()

    def _failed(self, dependency: str, error: Exception, detail: str) -> float:
        self.metrics.errors.labels(dependency).inc()
        delay = self._backoff.next()
        self.metrics.backoff.set(delay)
        log.warning("%s unavailable, retrying in %.2fs: %s", dependency, delay, detail,
                    extra=log_fields(dependency=dependency, retry_in_s=round(delay, 3)))
        return delay

    # -- one step ----------------------------------------------------------

    def step(self) -> float:
        """Do the next piece of work; returns how long to wait before the next."""
        now = self.clock()
        if self.release is None or now >= self._next_model_check:
            self._check_model(now)
        if not self.seeded:
            self._seed_from_cache()
        if self.votes is not None and now >= self._next_top_refresh:
            self._refresh_top(now)
        size = self.pool.size()
        self._report(size, now)
        missing = max(0, self.settings.pool_target_size - size)
        if missing == 0:
            self.metrics.idle.inc()
            return self.settings.idle_s
        # Never more than the pool lacks: at steady state the web spends a few
        # ids at a time, and generating a full batch for each would waste GPU time.
        self._generate(min(self.batch, missing))
        return 0.0

    def _check_model(self, now: float) -> None:
        info = self.generator.model_info()
        self._next_model_check = now + self.settings.model_check_s
        batch = self.settings.batch or info.max_songs_per_request or FALLBACK_BATCH
        if info.max_songs_per_request:
            batch = min(batch, info.max_songs_per_request)  # more is INVALID_ARGUMENT
        self.batch = batch
        if info.release == self.release:
            return
        log.info("model release %s (was %s): filling its pool", info.release, self.release,
                 extra=log_fields(release=info.release, batch=batch))
        self.release = info.release
        self.pool = SongPool(self.redis, info.release, self.settings.pool_target_size,
                             self.settings.pool_uses)
        self.top = TopSongs(self.redis, info.release)
        self.seeded = False
        self._next_top_refresh = 0.0
        self.metrics.model.info({"release": info.release})

    def _seed_from_cache(self) -> None:
        """Pool songs of this release already in the cache (written by an earlier
        run or by visitors' requests) before generating new ones."""
        added = scanned = 0
        chunk: list[int] = []
        for song_id in self.cache.scan_ids(self.release):
            chunk.append(song_id)
            if len(chunk) >= SEED_CHUNK:
                added += self._seed_chunk(chunk)
                scanned += len(chunk)
                chunk = []
                if self.pool.missing() == 0:
                    break
        if chunk:
            added += self._seed_chunk(chunk)
            scanned += len(chunk)
        self.seeded = True
        log.info("seeded the pool with %d cached songs (%d looked at)", added, scanned,
                 extra=log_fields(release=self.release, added=added, scanned=scanned))

    def _seed_chunk(self, song_ids: list[int]) -> int:
        songs = self.cache.get_many(self.release, song_ids)
        good = [s.song_id for s in songs if s is not None and not s.failed]
        added = self.pool.add(good)
        self.metrics.pooled.labels("cache").inc(added)
        return added

    def _refresh_top(self, now: float) -> None:
        """Mirror the top-voted songs. Votes being down must not stop
        generation, so its errors are handled here with their own back-off;
        the last mirrored list stays in use meanwhile."""
        try:
            songs = self.votes.top_songs(self.release, self.settings.top_limit)
        except grpc.RpcError as error:
            self.metrics.errors.labels("votes").inc()
            delay = self._votes_backoff.next()
            self._next_top_refresh = now + delay
            log.warning("votes unavailable, top songs kept; retrying in %.2fs: %s", delay,
                        error.code().name, extra=log_fields(dependency="votes"))
            return
        self._votes_backoff.reset()
        self._next_top_refresh = now + self.settings.top_refresh_s
        self.metrics.top_songs.set(self.top.replace(songs))

    def _generate(self, count: int) -> None:
        song_ids = [self.rng.getrandbits(64) for _ in range(count)]
        started = time.perf_counter()
        stream = self.generator.get_songs(song_ids)
        with self._stream_lock:
            self._stream = stream
        if self.stopping.is_set():
            stream.cancel()  # stop() ran before the stream was registered
        received = 0
        pending = []
        try:
            for song in stream:
                pending.append(song)
                received += 1
                if len(pending) >= STORE_EVERY:
                    self._store(pending)
                    pending = []
        finally:
            with self._stream_lock:
                self._stream = None
            self._store(pending)
        elapsed = time.perf_counter() - started
        self.metrics.batch_seconds.observe(elapsed)  # songs/s: rate(pregen_songs_generated_total)

    def _store(self, cached: list[Song]) -> None:
        if not cached:
            return
        # Every song goes to the cache under the release that wrote it, failed
        # ones too: the website then answers "failed" without generating again.
        self.cache.put_many(cached)
        failed = sum(s.failed for s in cached)
        self.metrics.songs.labels("failed").inc(failed)
        self.metrics.songs.labels("ok").inc(len(cached) - failed)
        if any(s.model_release != self.release for s in cached):
            # Another release answered (a rolling update): look again before
            # the next batch; its songs are cached but not pooled as ours.
            self._next_model_check = 0.0
        good = [s.song_id for s in cached if not s.failed and s.model_release == self.release]
        if good:
            self.metrics.pooled.labels("generated").inc(self.pool.add(good))

    def _report(self, size: int, now: float) -> None:
        self.metrics.pool_size.set(size)
        if now < self._next_log:
            return
        self._next_log = now + self.settings.log_every_s
        target = self.settings.pool_target_size
        log.info("pool %d/%d (%.1f%%)", size, target, 100.0 * size / target,
                 extra=log_fields(release=self.release, pool_size=size, pool_target=target))
