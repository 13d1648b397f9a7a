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
