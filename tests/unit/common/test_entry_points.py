"""Every entry point an operator runs, as a process: ``--help`` prints help and exits
0 (and starts nothing); a bad argument or a bad setting is ONE line on stderr naming
it, exit status 2, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PY = sys.executable
BIN = Path(PY).parent  # the console scripts of the installed services

ENTRY_POINTS = {
    "generator": [str(BIN / "billionsongs-generator")],
    "votes": [str(BIN / "billionsongs-votes")],
    "pregen": [str(BIN / "billionsongs-pregen")],
    "web": [str(BIN / "billionsongs-web")],
    "train": [str(BIN / "billionsongs-train")],
    "random_model": [str(BIN / "billionsongs-random-model")],
    "gen_protos": [PY, "tools/gen_protos.py"],
    "make_favicon": [PY, "tools/make_favicon.py"],
    "base_model": [PY, "tools/base_model.py"],
    "train_melody": [PY, "tools/train_melody.py"],
    "melody_corpus": [PY, "tools/melody_corpus.py"],
    "vendor_browser": [PY, "tools/vendor_browser.py"],
    "melody_quality": [PY, "bench/melody_quality.py"],
    "install-system-deps": ["bash", "tools/install-system-deps.sh"],
    "bench_generator": [PY, "bench/bench_generator.py"],
    "bench_votes": [PY, "bench/bench_votes.py"],
    "bench.load": [PY, "-m", "bench.load"],
    "healthcheck": [str(BIN / "billionsongs-healthcheck")],
}


def run(entry: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([*ENTRY_POINTS[entry], *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=60)


def assert_one_line_naming(result: subprocess.CompletedProcess, name: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert name in lines[0], lines[0]


@pytest.mark.parametrize("entry, args", [(e, ["--help"]) for e in ENTRY_POINTS] + [
    ("generator", ["generate", "--help"]), ("generator", ["serve", "--help"]),
    ("votes", ["-h"]),
])
def test_help_prints_help_and_exits_0(entry, args):
    result = run(entry, *args)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "usage:" in result.stdout and "Traceback" not in result.stderr


def test_votes_help_starts_nothing_even_with_a_database_url():
    result = run("votes", "--help", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", VOTES_LISTEN="127.0.0.1:0")
    assert result.returncode == 0 and "DATABASE_URL" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("entry, args, name", [
    ("generator", ["generate", "--seed", "18446744073709551616"], "--seed"),
    ("generator", ["generate", "--seed", "²"], "--seed"),
    ("generator", ["generate", "--seed", "-1"], "--seed"),
    ("generator", ["generate", "--seed", "1", "--model-dir", "/nonexistent/model"], "--model-dir"),
    ("generator", ["generate"], "--seed"),
    ("generator", ["bogus"], "bogus"),
    ("generator", [], "serve"),
    ("generator", ["serve", "--bogus"], "--bogus"),
    ("random_model", ["/tmp/x", "--n-layer", "0"], "--n-layer"),
    ("random_model", ["/tmp/x", "--n-embd", "10", "--n-head", "4"], "--n-embd"),
    ("random_model", ["/proc/no/such/dir"], "DIR"),
    ("train", [], "data"),
    ("votes", ["--bogus"], "--bogus"),
    ("votes", ["serve"], "serve"),
    ("pregen", ["--bogus"], "--bogus"),
    ("web", ["--bogus"], "--bogus"),
    ("train_melody", ["--limit", "0"], "--limit"),
    ("melody_corpus", ["--limit", "zero"], "--limit"),
    ("vendor_browser", ["--bogus"], "--bogus"),
    ("melody_quality", ["--songs", "0"], "--songs"),
    ("gen_protos", ["--bogus"], "--bogus"),
    ("gen_protos", ["--out", "/proc/no/such/dir"], "--out"),
    ("make_favicon", ["--out", "/proc/no/such/dir/favicon.ico"], "--out"),
    ("base_model", ["--out"], "--out"),
    ("install-system-deps", ["--bogus"], "--bogus"),
    ("bench_generator", ["--new-tokens", "0"], "--new-tokens"),
    ("bench_generator", ["--batch-sizes", "1,x"], "--batch-sizes"),
    ("bench_votes", ["--clients", "0"], "--clients"),
    ("bench_votes", ["--seconds", "nan"], "--seconds"),
    ("bench.load", ["--seconds", "²"], "--seconds"),
    ("healthcheck", ["tcp", "x"], "kind"),
    ("healthcheck", ["http", "http://127.0.0.1:1/", "--timeout", "nan"], "--timeout"),
])
def test_bad_arguments_are_one_line_naming_them(entry, args, name):
    assert_one_line_naming(run(entry, *args), name)


DB = "postgresql://nobody@127.0.0.1:1/none"


@pytest.mark.parametrize("entry, args, env, name", [
    ("generator", ["serve"], {"GENERATOR_TOP_K": "²"}, "GENERATOR_TOP_K"),
    ("generator", ["serve"], {"GENERATOR_TEMPERATURE": "nan"}, "GENERATOR_TEMPERATURE"),
    ("generator", ["serve"], {"MODEL_DIR": "/nonexistent/model"}, "MODEL_DIR"),
    ("generator", ["serve"], {"GENERATOR_LISTEN": "nonsense"}, "GENERATOR_LISTEN"),
    ("generator", ["serve"], {"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ("generator", ["generate", "--seed", "1"], {"MODEL_DIR": "/tmp"}, "MODEL_DIR"),
    ("votes", [], {}, "DATABASE_URL"),
    ("votes", [], {"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ("votes", [], {"DATABASE_URL": DB, "VOTES_POOL_SIZE": "٣"}, "VOTES_POOL_SIZE"),
    ("votes", [], {"DATABASE_URL": DB, "ARGON2_TIME_COST": "1_0"}, "ARGON2_TIME_COST"),
    ("votes", [], {"DATABASE_URL": DB, "VOTES_LISTEN": "nonsense:port"}, "VOTES_LISTEN"),
    ("pregen", [], {"REDIS_URL": "nonsense"}, "REDIS_URL"),
    ("pregen", [], {"POOL_USES": "²"}, "POOL_USES"),
    ("pregen", [], {"BACKOFF_MIN_S": "nan"}, "BACKOFF_MIN_S"),
    ("pregen", [], {"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ("votes", [], {"DATABASE_URL": DB, "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ("web", [], {"SECRET_KEY": "x", "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ("web", [], {}, "SECRET_KEY"),
    ("web", [], {"SECRET_KEY": "x", "WEB_WORKERS": "two"}, "WEB_WORKERS"),
    ("web", [], {"SECRET_KEY": "x", "WEB_BIND": "8000"}, "WEB_BIND"),
    ("web", [], {"SECRET_KEY": "x", "REDIS_URL": "http://x"}, "REDIS_URL"),
    ("web", [], {"SECRET_KEY": "x", "GENERATION_TIMEOUT_S": "inf"}, "GENERATION_TIMEOUT_S"),
])
def test_bad_settings_are_one_line_naming_them(entry, args, env, name):
    assert_one_line_naming(run(entry, *args, **env), name)


def test_gunicorn_reads_the_web_settings_a_bad_one_is_one_line():
    """The image's web process is gunicorn with web.gunicorn_conf, which reads WebSettings: a bad
    LOG_LEVEL there is the same one line and exit status 2, not a traceback from logging."""
    result = subprocess.run([PY, "-m", "gunicorn", "--config", "python:web.gunicorn_conf", "web.app:create_app()"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ["PATH"], "HOME": "/tmp", "SECRET_KEY": "x", "LOG_LEVEL": "loud"})
    assert_one_line_naming(result, "LOG_LEVEL")
