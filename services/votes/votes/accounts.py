"""Account rules and password hashing.

Usernames: 3-32 ASCII letters, digits, ``_``, ``-`` or ``.``, unique regardless
of case. ASCII only, so two names that look alike on screen are the same name
or visibly different (no Unicode confusables), and lower() is an exact fold.

Passwords: at least 5 characters with at least 4 different ones (the original's
rule), at most 1024 bytes of UTF-8 (hashing cost is bounded per request).
Hashes are argon2id through argon2-cffi; a hash made with older parameters is
replaced on the next successful login. Each hash holds ``memory_cost`` (64 MiB by
default) while it runs, so at most ``slots`` hashes run at once (sized from the
container's memory limit, votes/memorylimit.py); a call that finds no free slot
before its deadline gets ResourceExhausted instead of pushing the process over its
limit.

Both are NFKC-normalised first (NIST SP 800-63B §5.1.1.2): "Café" typed with a
combining accent (NFD, as some keyboards and macOS send it) is the same password
as with "é" (NFC), and a full-width "ａｌｉｃｅ" is the name "alice". Hashes made
before normalisation hold the raw text: when the normalised form does not match,
the raw form is tried once, and a match is rehashed in the normalised form.
"""
from __future__ import annotations

import contextlib
import re
import threading
import time
import unicodedata

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter, Gauge

from votes.errors import InvalidArgument, ResourceExhausted
from votes.settings import Argon2Settings

USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN, PASSWORD_MIN_UNIQUE, PASSWORD_MAX_BYTES = 5, 4, 1024
_USERNAME = re.compile(r"[A-Za-z0-9_.\-]+")
# How long a hash waits for a free slot when the caller set no deadline.
DEFAULT_WAIT_S = 10.0
# What a refused caller is told to wait: about one hash's time on a busy core.
RETRY_AFTER_S = 1.0

HASHES_RUNNING = Gauge("votes_password_hashes_running", "argon2 hashes and verifications running now")
HASHES_REFUSED = Counter("votes_password_hashes_refused_total",
                         "Password checks refused: no hashing slot free before the deadline")


def normalise(text: str) -> str:
    """NFKC, the form every password and user name is checked, hashed and compared in."""
    return unicodedata.normalize("NFKC", text)


def check_username(name: str) -> str:
    """``name`` (NFKC) if it follows the rules, else InvalidArgument saying which rule."""
    name = normalise(name)
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise InvalidArgument(f"username must be {USERNAME_MIN} to {USERNAME_MAX} characters long")
    if not _USERNAME.fullmatch(name):
        raise InvalidArgument("username may contain only ASCII letters, digits, '_', '-' and '.'")
    return name


def check_password(password: str) -> str:
    """``password`` (NFKC, as it will be hashed) if it follows the rules."""
    password = normalise(password)
    if len(password) < PASSWORD_MIN:
        raise InvalidArgument(f"password must be at least {PASSWORD_MIN} characters long")
    if len(set(password)) < PASSWORD_MIN_UNIQUE:
        raise InvalidArgument(f"password must contain at least {PASSWORD_MIN_UNIQUE} different characters")
    if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise InvalidArgument(f"password must be at most {PASSWORD_MAX_BYTES} bytes long")
    return password


class Passwords:
    """Hashes and verifies passwords with one set of argon2id parameters, at most
    ``slots`` at a time (each holds ``params.memory_cost_kib`` of memory while it
    runs). Every method takes ``deadline`` (time.monotonic(), None: DEFAULT_WAIT_S
    from now) and raises ResourceExhausted when no slot frees up before it."""

    def __init__(self, params: Argon2Settings, slots: int = 4):
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.hasher = argon2.PasswordHasher(
            time_cost=params.time_cost, memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism, type=argon2.Type.ID)
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)
        # Seconds one hash takes here (a moving average): a caller stops waiting for a
        # slot while there is still time to hash, so it hears "busy" before its deadline.
        self._hash_s = 0.1
        # Verified against when the user does not exist, so an unknown name
        # costs the same hash computation as a wrong password.
        self._dummy = self.hasher.hash("not the password of anyone")

    @contextlib.contextmanager
    def _slot(self, deadline: float | None):
        wait = DEFAULT_WAIT_S if deadline is None else deadline - time.monotonic() - self._hash_s
        if not self._free.acquire(timeout=max(0.0, wait)):
            HASHES_REFUSED.inc()
            raise ResourceExhausted(f"all {self.slots} password-hashing slots are busy; retry shortly",
                                    RETRY_AFTER_S)
        HASHES_RUNNING.inc()
        started = time.monotonic()
        try:
            yield
        finally:
            HASHES_RUNNING.dec()
            self._free.release()
            self._hash_s = 0.8 * self._hash_s + 0.2 * (time.monotonic() - started)

    def hash(self, password: str, deadline: float | None = None) -> str:
        with self._slot(deadline):
            return self.hasher.hash(normalise(password))

    def _matches(self, stored_hash: str, password: str, deadline: float | None) -> bool:
        with self._slot(deadline):
            try:
                return self.hasher.verify(stored_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def check(self, stored_hash: str | None, password: str, deadline: float | None = None) -> tuple[bool, bool]:
        """(matches, rehash). ``password`` is compared in NFKC; a hash made before
        passwords were normalised holds the raw text, so when the raw text differs
        from its NFKC form and NFKC does not match, the raw text is tried once, and a
        match asks for a rehash (as does a hash made with older parameters).
        With ``stored_hash`` None (no such user) it does the same work and says no."""
        target = self._dummy if stored_hash is None else stored_hash
        normal = normalise(password)
        if self._matches(target, normal, deadline):
            return stored_hash is not None, stored_hash is not None and self.needs_rehash(stored_hash)
        if normal != password and self._matches(target, password, deadline):
            return stored_hash is not None, stored_hash is not None
        return False, False

    def verify(self, stored_hash: str | None, password: str, deadline: float | None = None) -> bool:
        """True when ``password`` matches; with ``stored_hash`` None (no such
        user) it still does the full work and returns False."""
        return self.check(stored_hash, password, deadline)[0]

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)
