"""The operator CLI and the launcher's random-model fallback, as processes."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args, env=None):
    env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "generator", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=120).stdout


def test_generate_prints_the_song_the_engine_writes(generator_settings):
    from generator.runtime import load_runtime
    from generator.songs import assemble

    runtime = load_runtime(generator_settings)
    f = runtime.engine.generate([77])[77]
    song = assemble(runtime.tokenizer, 77, f.tokens, f.failed, 128, runtime.prefix)
    out = run_cli("generate", "--seed", "77", "--model-dir", generator_settings.model_dir,
                  env={"GENERATOR_MAX_NEW_TOKENS": "128", "GENERATOR_DEVICE": "cpu", "GENERATOR_THREADS": "1"})
    assert out.startswith(f"# {song.title}\n") and song.lyrics in out and "model release" in out


def test_model_dir_option_reads_that_models_own_sampling_settings(generator_model_dir, tmp_path):
    """--model-dir is MODEL_DIR: the settings in the model's generation_config.json
    apply, not the default model's (the bundled one samples at 0.9 with rhymes)."""
    import json
    import shutil
    model = shutil.copytree(generator_model_dir, tmp_path / "model")
    (model / "generation_config.json").write_text(json.dumps({"temperature": 1.7, "max_new_tokens": 40}))
    env = {"GENERATOR_DEVICE": "cpu", "GENERATOR_THREADS": "1"}
    by_option = run_cli("generate", "--seed", "5", "--seed", "6", "--model-dir", str(model), env=env)
    by_env = run_cli("generate", "--seed", "5", "--seed", "6", env={**env, "MODEL_DIR": str(model)})
    # The release id printed with each song names the sampling settings too.
    assert by_option == by_env and by_option.count("model release") == 2


def test_launcher_falls_back_to_a_random_model_and_says_so(tmp_path, caplog):
    from devstack.launcher import ensure_model
    from generator.release import describe_model

    with caplog.at_level(logging.WARNING, logger="devstack"):
        used = ensure_model(tmp_path / "missing", tmp_path / "state")
    assert used == tmp_path / "state" / "random-model"
    assert "RANDOM model" in caplog.text
    assert describe_model(used).writes_titles
    assert ensure_model(used, tmp_path / "state") == used  # a real model directory is used as is


@pytest.mark.parametrize("name,value", [("GENERATOR_WORKER_MODE", "sometimes"), ("GENERATOR_COMPILE", "fast")])
def test_a_bad_setting_stops_serve_with_one_line_not_a_traceback(name, value):
    import os
    import subprocess
    import sys
    env = {**os.environ, name: value}
    result = subprocess.run([sys.executable, "-m", "generator", "serve"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
