"""Settings come only from environment variables, read when a service starts.

Each service declares a frozen dataclass built by ``from_env(environ)``; these
helpers give every variable a default where that is safe and stop start-up with
a clear message when a required one is missing or malformed.
"""
from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")

_REQUIRED = object()
# ASCII only: int() and float() also take other scripts' digits ("٣"), "1_000", "nan", "inf".
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _raw(env: Mapping[str, str] | None, name: str, default):
    env = os.environ if env is None else env
    value = env.get(name)
    if value is None or value == "":
        if default is _REQUIRED:
            raise SettingsError(f"environment variable {name} is required but not set")
        return None
    return value


def env_str(name: str, default=_REQUIRED, env: Mapping[str, str] | None = None) -> str:
    value = _raw(env, name, default)
    return default if value is None else value


def env_int(name: str, default=_REQUIRED, env: Mapping[str, str] | None = None,
            minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(env, name, default)
    if value is None:
        return default
    if not _INTEGER.fullmatch(value.strip()):
        raise SettingsError(f"environment variable {name}={value!r} is not an integer (ASCII digits)")
    number = int(value.strip())
    if minimum is not None and number < minimum:
        raise SettingsError(f"environment variable {name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise SettingsError(f"environment variable {name}={number} is above the maximum {maximum}")
    return number


def env_float(name: str, default=_REQUIRED, env: Mapping[str, str] | None = None,
              minimum: float | None = None, maximum: float | None = None) -> float:
    value = _raw(env, name, default)
    if value is None:
        return default
    if not _DECIMAL.fullmatch(value.strip()) or not math.isfinite(number := float(value.strip())):
        raise SettingsError(f"environment variable {name}={value!r} is not a number (ASCII decimal)")
    if minimum is not None and number < minimum:
        raise SettingsError(f"environment variable {name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise SettingsError(f"environment variable {name}={number} is above the maximum {maximum}")
    return number


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default=_REQUIRED, env: Mapping[str, str] | None = None) -> bool:
    value = _raw(env, name, default)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"environment variable {name}={value!r} is not a boolean (use true/false)")


def env_choice(name: str, choices: tuple[str, ...], default=_REQUIRED,
               env: Mapping[str, str] | None = None) -> str:
    value = env_str(name, default, env)
    if value not in choices:
        raise SettingsError(f"environment variable {name}={value!r} must be one of {', '.join(choices)}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_log_level(name: str = "LOG_LEVEL", default: str = "INFO", env: Mapping[str, str] | None = None) -> str:
    """A logging level name, any case; returned upper-case."""
    value = env_str(name, default, env)
    if value.strip().upper() not in LOG_LEVELS:
        raise SettingsError(f"environment variable {name}={value!r} must be one of {', '.join(LOG_LEVELS)}")
    return value.strip().upper()


def env_redis_url(name: str = "REDIS_URL", default=_REQUIRED, env: Mapping[str, str] | None = None) -> str:
    """A redis://, rediss:// or unix:// URL (checked as redis-py will read it)."""
    value = env_str(name, default, env)
    from redis.connection import parse_url
    try:
        parse_url(value)
    except ValueError as e:
        raise SettingsError(f"environment variable {name}={value!r} is not a Redis URL: {e}") from None
    return value


def load_or_exit(service: str, from_env: Callable[[], T]) -> T:
    """Settings for a service's entry point: a missing or malformed variable
    stops start-up with one clear line (exit status 2), not a traceback."""
    try:
        return from_env()
    except SettingsError as error:
        print(f"{service}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
