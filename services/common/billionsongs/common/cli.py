"""Command lines of the services' entry points (``python -m generator|votes|pregen|web``).

``--help`` prints help and exits 0. A bad argument is ONE line on stderr naming it,
``<prog>: error: argument --seed: …``, and exit status 2 (argparse's own status),
never a usage dump or a traceback; bad settings say the same through
``settings.load_or_exit``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from billionsongs.common.ids import MAX_SONG_ID, parse_decimal, parse_song_id


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and status 2 (sub-commands inherit it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def fail(prog: str, message: str) -> SystemExit:
    """One line on stderr and exit status 2, for what is found wrong after parsing
    (a missing model directory, an unreadable file); ``raise fail(...)``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return SystemExit(2)


def song_id(text: str) -> int:
    """argparse type: a uint64 song id in ASCII decimal."""
    value = parse_song_id(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a song id (0 to {MAX_SONG_ID} in decimal digits)")
    return value


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """argparse type: a whole number in ASCII digits, at least ``minimum`` (and at most ``maximum``)."""
    def parse(text: str) -> int:
        value = parse_decimal(text, minimum, maximum, max_digits=18)
        if value is None:
            bound = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {bound}")
        return value
    parse.__name__ = "whole number"
    return parse


def float_above(minimum: float) -> Callable[[str], float]:
    """argparse type: a finite decimal number above ``minimum``."""
    def parse(text: str) -> float:
        try:
            value = float(text) if text.isascii() and "_" not in text else float("nan")
        except ValueError:
            value = float("nan")
        if not value > minimum or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number above {minimum}")
        return value
    parse.__name__ = "number"
    return parse


def listen_problem(value: str) -> str | None:
    """What is wrong with a gRPC listen address ``host:port`` (port 0 to 65535), or None."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        return "is not host:port"
    if parse_decimal(port, 0, 65535, max_digits=5) is None:
        return f"port {port!r} is not a number from 0 to 65535"
    return None


def check_listen(prog: str, name: str, value: str) -> None:
    """Stop with one line naming ``name`` when ``value`` cannot be a listen address."""
    problem = listen_problem(value)
    if problem:
        raise fail(prog, f"{name}={value!r} {problem}")
