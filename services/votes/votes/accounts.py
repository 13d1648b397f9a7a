"""Account rules and password hashing.

Usernames: 3-32 ASCII letters, digits, ``_``, ``-`` or ``.``, unique regardless
of case. ASCII only, so two names that look alike on screen are the same name
or visibly different (no Unicode confusables), and lower() is an exact fold.

Passwords: at least 5 characters with at least 4 different ones (the original's
rule), at most 1024 bytes of UTF-8 (hashing cost is bounded per request).
Hashes are argon2id through argon2-cffi; a hash made with older parameters is
replaced on the next successful login.

Both are NFKC-normalised first (NIST SP 800-63B §5.1.1.2): "Café" typed with a
combining accent (NFD, as some keyboards and macOS send it) is the same password
as with "é" (NFC), and a full-width "ａｌｉｃｅ" is the name "alice". Hashes made
before normalisation hold the raw text: when the normalised form does not match,
the raw form is tried once, and a match is rehashed in the normalised form.
"""
from __future__ import annotations

import re
import unicodedata

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from votes.errors import InvalidArgument
from votes.settings import Argon2Settings

USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN, PASSWORD_MIN_UNIQUE, PASSWORD_MAX_BYTES = 5, 4, 1024
_USERNAME = re.compile(r"[A-Za-z0-9_.\-]+")


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
    """Hashes and verifies passwords with one set of argon2id parameters."""

    def __init__(self, params: Argon2Settings):
        self.hasher = argon2.PasswordHasher(
            time_cost=params.time_cost, memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism, type=argon2.Type.ID)
        # Verified against when the user does not exist, so an unknown name
        # costs the same hash computation as a wrong password.
        self._dummy = self.hasher.hash("not the password of anyone")

    def hash(self, password: str) -> str:
        return self.hasher.hash(normalise(password))

    def _matches(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def check(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        """(matches, rehash). ``password`` is compared in NFKC; a hash made before
        passwords were normalised holds the raw text, so when the raw text differs
        from its NFKC form and NFKC does not match, the raw text is tried once, and a
        match asks for a rehash (as does a hash made with older parameters).
        With ``stored_hash`` None (no such user) it does the same work and says no."""
        target = self._dummy if stored_hash is None else stored_hash
        normal = normalise(password)
        if self._matches(target, normal):
            return stored_hash is not None, stored_hash is not None and self.needs_rehash(stored_hash)
        if normal != password and self._matches(target, password):
            return stored_hash is not None, stored_hash is not None
        return False, False

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with ``stored_hash`` None (no such
        user) it still does the full work and returns False."""
        return self.check(stored_hash, password)[0]

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)
