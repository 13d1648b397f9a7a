"""Settings of the votes service (named apart from tests/unit/common/test_settings.py)."""
import pytest

from billionsongs.common.settings import SettingsError
from votes.settings import Settings

URL = "postgresql://postgres@127.0.0.1:5432/votes"


def test_database_url_is_required():
    with pytest.raises(SettingsError, match="DATABASE_URL is required"):
        Settings.from_env({})


def test_database_url_must_be_postgresql():
    with pytest.raises(SettingsError, match="postgresql://"):
        Settings.from_env({"DATABASE_URL": "mysql://x/y"})


def test_defaults_are_production_strength():
    settings = Settings.from_env({"DATABASE_URL": URL})
    assert settings.listen == "0.0.0.0:50052"
    assert settings.pool_size == 10
    assert settings.metrics_port == 0
    # RFC 9106 low-memory profile: never weaker by default.
    assert settings.argon2.time_cost >= 3
    assert settings.argon2.memory_cost_kib >= 65536


def test_everything_is_read_from_the_environment():
    settings = Settings.from_env({
        "DATABASE_URL": "postgres://u:p@db/votes", "VOTES_LISTEN": "127.0.0.1:50052",
        "VOTES_POOL_SIZE": "3", "ARGON2_TIME_COST": "4", "ARGON2_MEMORY_COST": "1024",
        "ARGON2_PARALLELISM": "2", "METRICS_PORT": "9102", "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "text"})
    assert (settings.listen, settings.pool_size, settings.metrics_port) == ("127.0.0.1:50052", 3, 9102)
    assert (settings.argon2.time_cost, settings.argon2.memory_cost_kib, settings.argon2.parallelism) == (4, 1024, 2)
    assert (settings.log_level, settings.log_format) == ("DEBUG", "text")


@pytest.mark.parametrize("env, message", [
    ({"VOTES_POOL_SIZE": "0"}, "VOTES_POOL_SIZE"),
    ({"VOTES_POOL_SIZE": "ten"}, "not an integer"),
    ({"ARGON2_MEMORY_COST": "16", "ARGON2_PARALLELISM": "4"}, "8 KiB per lane"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
])
def test_malformed_settings_stop_start_up(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"DATABASE_URL": URL, **env})


def test_the_hashing_budget_is_read_and_must_hold_one_hash():
    settings = Settings.from_env({"DATABASE_URL": URL, "ARGON2_MEMORY_BUDGET_MIB": "256"})
    assert settings.hash_memory_budget_mib == 256 and settings.hash_slots(None) == 4
    assert Settings.from_env({"DATABASE_URL": URL}).hash_slots(1024 ** 3) == 8  # half of 1 GiB
    with pytest.raises(SettingsError, match="ARGON2_MEMORY_BUDGET_MIB=32 is less than one hash"):
        Settings.from_env({"DATABASE_URL": URL, "ARGON2_MEMORY_BUDGET_MIB": "32"})
