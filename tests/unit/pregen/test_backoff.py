import random

from pregen.worker import Backoff


def test_doubles_up_to_the_cap_with_jitter():
    backoff = Backoff(0.5, 8.0, random.Random(1))
    delays = [backoff.next() for _ in range(10)]
    ceilings = [min(8.0, 0.5 * 2 ** n) for n in range(10)]
    for delay, ceiling in zip(delays, ceilings):
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 8.0 and delays[-1] >= 4.0


def test_reset_starts_over():
    backoff = Backoff(1.0, 60.0, random.Random(2))
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert backoff.next() <= 1.0


def test_jitter_spreads_replicas():
    delays = {round(Backoff(1.0, 60.0, random.Random(seed)).next(), 6) for seed in range(20)}
    assert len(delays) > 10


def test_many_failures_do_not_overflow():
    backoff = Backoff(0.1, 30.0, random.Random(3))
    backoff.failures = 10_000
    assert 15.0 <= backoff.next() <= 30.0
