"""What can go wrong in a call, by kind; the gRPC layer maps each to a status code."""
from __future__ import annotations


class VotesError(Exception):
    """Base class; ``str(error)`` is the message the client sees."""


class InvalidArgument(VotesError):
    pass


class NotFound(VotesError):
    pass


class AlreadyExists(VotesError):
    pass


class Unauthenticated(VotesError):
    pass


class Unavailable(VotesError):
    """The database could not be reached in time; the call may be retried."""


class ResourceExhausted(VotesError):
    """The service is at capacity (every password-hashing slot busy until the
    deadline); the call may be retried after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: float = 1.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s
