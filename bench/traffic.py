"""Bounded mixed traffic against a running site: random songs, cached song pages
and votes through the JSON API with real accounts and CSRF tokens.

Shared by the fault tests (tests/faults/) and the load bench (bench/load.py).
Every request has a client timeout; a timeout is recorded as an error, never
retried silently. Votes keep a ledger of what the site acknowledged, so a test
can compare it with what the votes service and PostgreSQL hold afterwards.
"""
from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field

import requests

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0
# What a visitor may see while services die and come back: pages, redirects, a
# missing or failed song, a friendly "try again". Never a 500, never a hang.
ALLOWED = {200, 201, 204, 301, 302, 303, 304, 404, 503}
SONG_URL = re.compile(r"/song/(\d+)$")


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (timeout or connection error)
    seconds: float
    error: str = ""


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def snapshot(self) -> list[Sample]:
        with self.lock:
            return list(self.samples)


def timed(recorder: Recorder, kind: str, call) -> requests.Response | None:
    started = time.perf_counter()
    try:
        response = call()
        _ = response.content  # read the whole body (streamed song pages included)
    except requests.RequestException as error:
        recorder.add(Sample(kind, 0, time.perf_counter() - started, f"{type(error).__name__}: {error}"[:300]))
        return None
    recorder.add(Sample(kind, response.status_code, time.perf_counter() - started,
                        "" if response.status_code in ALLOWED else response.text[:300]))
    return response


def session() -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = "billionsongs-traffic"
    return s


def get(s: requests.Session, url: str, **kw) -> requests.Response:
    return s.get(url, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), **kw)


class Account:
    """A signed-in user of the site (session cookie + CSRF token)."""

    def __init__(self, base: str, name: str, password: str):
        self.base, self.name, self.password = base, name, password
        self.http = session()
        self.token = ""

    def register(self, deadline_s: float = 60.0) -> None:
        until = time.monotonic() + deadline_s
        while True:
            self.token = get(self.http, self.base + "/api/session").json()["csrf_token"]
            r = self.http.post(self.base + "/api/register", json={"username": self.name, "password": self.password},
                               headers={"X-CSRF-Token": self.token}, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
            if r.status_code == 201:
                self.token = r.json()["csrf_token"]
                return
            if time.monotonic() > until:
                raise RuntimeError(f"register {self.name}: {r.status_code} {r.text[:200]}")
            time.sleep(0.2)

    def vote(self, song_id: int, vote: str | None) -> requests.Response:
        return self.http.put(f"{self.base}/api/songs/{song_id}/vote", json={"vote": vote},
                             headers={"X-CSRF-Token": self.token}, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))


@dataclass
class Ledger:
    """What the site acknowledged: (user, song) -> "up"/"down"/None (withdrawn)."""
    acked: dict[tuple[str, int], str | None] = field(default_factory=dict)
    acks: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, user: str, song_id: int, vote: str | None) -> None:
        with self.lock:
            self.acked[(user, song_id)] = vote
            self.acks += 1

    def retried(self) -> None:
        with self.lock:
            self.retries += 1


def voter(account: Account, songs: list[int], ledger: Ledger, recorder: Recorder, stop: threading.Event,
          rng: random.Random, settle_s: float = 60.0) -> None:
    """Vote, flip and withdraw on random songs. A vote that was not acknowledged is
    retried (votes are idempotent) until it is, so the ledger never holds a vote
    whose fate is unknown; after ``stop`` only the pending one is finished."""
    while not stop.is_set():
        song_id = rng.choice(songs)
        choice = rng.choice(["up", "up", "down", None])
        settle_until = None
        while True:
            response = timed(recorder, "vote", lambda: account.vote(song_id, choice))
            if response is not None and response.status_code == 200:
                assert response.json()["mine"] == choice, response.text
                ledger.record(account.name, song_id, choice)
                break
            if response is not None and response.status_code in (400, 404):
                break  # refused, nothing applied (e.g. a song the database cannot store)
            ledger.retried()
            if stop.is_set():
                settle_until = settle_until or time.monotonic() + settle_s
                if time.monotonic() > settle_until:
                    raise RuntimeError(f"vote of {account.name} on {song_id} never acknowledged")
            time.sleep(0.1)


def random_visitor(base: str, seen: list[int], recorder: Recorder, stop: threading.Event) -> None:
    """Press Make Random and open the song it lands on."""
    s = session()
    while not stop.is_set():
        r = timed(recorder, "random", lambda: get(s, base + "/", allow_redirects=False))
        location = r.headers.get("Location", "") if r is not None else ""
        match = SONG_URL.search(location)
        if match:
            page = timed(recorder, "song", lambda: get(s, base + match.group(0)))
            if page is not None and page.status_code == 200:
                seen.append(int(match.group(1)))
        else:
            time.sleep(0.05)


def cached_reader(base: str, songs: list[int], recorder: Recorder, stop: threading.Event,
                  rng: random.Random) -> None:
    """Read song pages that were generated before (cache hits unless Redis was flushed)."""
    s = session()
    while not stop.is_set():
        timed(recorder, "cached", lambda: get(s, f"{base}/song/{rng.choice(songs)}"))


def votable_songs(base: str, want: int, first: int = 1, last: int = 200) -> list[int]:
    """Ids whose song generates (a random model fails some); each is then in the
    song cache."""
    s, found = session(), []
    for song_id in range(first, last):
        r = get(s, f"{base}/api/songs/{song_id}")
        if r.status_code == 200:
            found.append(song_id)
            if len(found) == want:
                return found
    raise AssertionError(f"only {len(found)} songs generate")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
