"""bench/gpu_check.sh's dry run: GPU_CHECK_DEVICE=cpu runs every part of the
GPU check (the gpu-marked determinism tests eager and compiled, the generator
bench with its compiled row) on the CPU at tiny sizes, with this environment
instead of the wheels (GPU_WHEELS empty), so a change that would break the
run on the lent GPU fails here first, before device time is spent on it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(480)  # about 35 s on 2 idle cores; its parts' own limits add up to 400 s
def test_the_gpu_check_runs_end_to_end_on_the_cpu(tmp_path):
    env = {**os.environ, "GPU_CHECK_DEVICE": "cpu", "GPU_WHEELS": "", "OUT": str(tmp_path),
           "PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(["bash", "bench/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=470)
    summary = (tmp_path / "summary.txt").read_text()
    assert done.returncode == 0, f"{summary}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    for part in ("gpu-tests", "gpu-tests-compiled", "generator-tiny"):
        assert f"gpu_check: {part}: ok" in summary, summary
    # The determinism tests ran (both families), none skipped: on the CPU too.
    for part in ("gpu-tests", "gpu-tests-compiled"):
        output = (tmp_path / f"{part}.txt").read_text()
        assert "2 passed" in output and "skipped" not in output and "deselected" in output, output
    rows = json.loads((tmp_path / "generator-tiny.json").read_text())["rows"]
    compiled = [r for r in rows if r["method"] == "engine (compiled)"]
    assert len(compiled) == 1 and compiled[0]["compile_seconds"] > 0 and compiled[0]["tokens"] > 0
    assert {r["method"] for r in rows} >= {"engine", "engine (compiled)", "transformers.generate"}
