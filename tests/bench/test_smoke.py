"""Every bench script still runs: `python bench/<script> --smoke` (tiny sizes, a
few seconds, results thrown away) exits 0 and leaves bench/results/ alone.

The real runs stay manual (docs/testing.md); this only makes a
change that breaks a bench fail `make test`. A script is one with a
``if __name__ == "__main__":`` block; the ones named in EXPECTED must be there,
so a renamed or deleted bench is noticed too.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
EXPECTED = {"bench_generator.py", "bench_votes.py", "load.py", "model_quality.py", "melody_quality.py"}
_MAIN = re.compile(r"^if __name__ == [\"']__main__[\"']:", re.M)


def scripts() -> list[str]:
    return sorted(p.name for p in BENCH.glob("*.py") if _MAIN.search(p.read_text(encoding="utf-8")))


def results_digest() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(RESULTS.glob("*")) if p.is_file()}


def test_every_expected_bench_is_a_script():
    assert EXPECTED <= set(scripts()), f"missing bench scripts: {sorted(EXPECTED - set(scripts()))}"


def test_library_modules_are_not_taken_for_scripts():
    assert "traffic.py" not in scripts() and "minimal_app.py" not in scripts()


@pytest.mark.parametrize("script", scripts())
def test_bench_smoke(script):
    before = results_digest()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)  # each script finds its own imports, as when run by hand
    try:
        done = subprocess.run([sys.executable, f"bench/{script}", "--smoke"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"bench/{script} --smoke ran past 240 s\n{(error.stdout or '')[-3000:]}")
    assert done.returncode == 0, (f"bench/{script} --smoke exited {done.returncode}\n"
                                  f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")
    assert results_digest() == before, f"bench/{script} --smoke changed bench/results/"
