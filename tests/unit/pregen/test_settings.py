import pytest

from billionsongs.common.settings import SettingsError
from pregen.settings import Settings


def test_defaults():
    s = Settings.from_env({})
    assert (s.pool_target_size, s.pool_uses, s.batch) == (50_000, 10, 0)
    assert s.generator_target == "127.0.0.1:50051" and s.votes_target == "127.0.0.1:50052"
    assert s.redis_url == "redis://127.0.0.1:6379/0"


def test_values_from_the_environment():
    s = Settings.from_env({"POOL_TARGET_SIZE": "100", "POOL_USES": "3", "PREGEN_BATCH": "16",
                           "TOP_REFRESH_S": "2.5", "REDIS_URL": "redis://redis:6379/1",
                           "GENERATOR_TARGET": "dns:///generator:50051", "METRICS_PORT": "9103"})
    assert (s.pool_target_size, s.pool_uses, s.batch, s.top_refresh_s) == (100, 3, 16, 2.5)
    assert s.redis_url == "redis://redis:6379/1" and s.generator_target == "dns:///generator:50051"
    assert s.metrics_port == 9103


@pytest.mark.parametrize("name, value", [
    ("POOL_TARGET_SIZE", "0"), ("POOL_USES", "0"), ("PREGEN_BATCH", "-1"),
    ("TOP_LIMIT", "5000"), ("LOG_FORMAT", "xml"), ("TOP_REFRESH_S", "soon"),
])
def test_bad_values_are_refused_with_the_name(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
