import json

import pytest

from billionsongs.common.settings import SettingsError
from generator.settings import DEFAULT_MODEL_DIR, GeneratorSettings


def test_defaults():
    s = GeneratorSettings.from_env({})
    assert (s.listen, s.worker_mode, s.device) == ("127.0.0.1:50051", "batched", "auto")
    assert s.model_dir == str(DEFAULT_MODEL_DIR) and DEFAULT_MODEL_DIR.parts[-2:] == ("models", "billionsongs-smollm2")
    # Sampling: what the bundled model was trained to be served with (`make model`).
    shipped = json.loads((DEFAULT_MODEL_DIR / "generation_config.json").read_text())
    assert (s.max_new_tokens, s.top_k, s.temperature) == (
        shipped["max_new_tokens"], shipped["top_k"], shipped["temperature"])
    # No generation_config.json: the original's settings.
    s = GeneratorSettings.from_env({"MODEL_DIR": "/nonexistent"})
    assert s == GeneratorSettings(model_dir="/nonexistent")
    assert (s.max_new_tokens, s.top_k, s.temperature) == (1024, 40, 1.0)


def test_from_env():
    s = GeneratorSettings.from_env({
        "GENERATOR_LISTEN": "0.0.0.0:6000", "MODEL_DIR": "/m", "GENERATOR_DEVICE": "cuda",
        "GENERATOR_DTYPE": "bfloat16", "GENERATOR_WORKER_MODE": "per-request", "GENERATOR_WORKERS": "3",
        "GENERATOR_MAX_BATCH": "512", "GENERATOR_MAX_SONGS_PER_REQUEST": "9", "GENERATOR_MAX_NEW_TOKENS": "256",
        "GENERATOR_TOP_K": "10", "GENERATOR_TEMPERATURE": "0.7", "METRICS_PORT": "9101"})
    assert (s.listen, s.model_dir, s.device, s.dtype, s.worker_mode, s.workers, s.max_batch,
            s.max_songs_per_request, s.max_new_tokens, s.top_k, s.temperature, s.metrics_port) == (
        "0.0.0.0:6000", "/m", "cuda", "bfloat16", "per-request", 3, 512, 9, 256, 10, 0.7, 9101)


@pytest.mark.parametrize("name,value", [("GENERATOR_DEVICE", "tpu"), ("GENERATOR_DTYPE", "int8"),
                                        ("GENERATOR_WORKER_MODE", "fork"), ("GENERATOR_WORKERS", "0"),
                                        ("GENERATOR_TEMPERATURE", "0"), ("GENERATOR_MAX_BATCH", "x")])
def test_bad_values_stop_start_up(name, value):
    with pytest.raises(SettingsError, match=name):
        GeneratorSettings.from_env({name: value})


def write_generation_config(tmp_path, **values):
    (tmp_path / "generation_config.json").write_text(json.dumps(values))
    return {"MODEL_DIR": str(tmp_path)}


def test_sampling_defaults_come_from_the_models_generation_config(tmp_path):
    env = write_generation_config(tmp_path, top_k=12, temperature=0.7, max_new_tokens=300, eos_token_id=0)
    s = GeneratorSettings.from_env(env)
    assert (s.top_k, s.temperature, s.max_new_tokens) == (12, 0.7, 300)
    s = GeneratorSettings.from_env({**env, "GENERATOR_TOP_K": "3", "GENERATOR_MAX_NEW_TOKENS": "50"})
    assert (s.top_k, s.temperature, s.max_new_tokens) == (3, 0.7, 50)


def test_keys_a_generation_config_leaves_out_are_ours_not_transformers(tmp_path):
    # GPT-2 124M's file sets only token ids; transformers would fill in top_k=50.
    s = GeneratorSettings.from_env(write_generation_config(tmp_path, bos_token_id=50256, eos_token_id=50256))
    assert (s.top_k, s.temperature, s.max_new_tokens) == (40, 1.0, 1024)
    assert GeneratorSettings.from_env({"MODEL_DIR": str(tmp_path / "none")}).top_k == 40


@pytest.mark.parametrize("values", [{"top_k": 0}, {"temperature": 0}, {"temperature": "hot"},
                                    {"max_new_tokens": 1.5}, {"top_k": True}])
def test_a_bad_generation_config_stops_start_up_naming_the_file(tmp_path, values):
    with pytest.raises(SettingsError, match="generation_config.json"):
        GeneratorSettings.from_env(write_generation_config(tmp_path, **values))
    (tmp_path / "generation_config.json").write_text("{not json")
    with pytest.raises(SettingsError, match="generation_config.json"):
        GeneratorSettings.from_env({"MODEL_DIR": str(tmp_path)})


def test_no_repeat_ngram_size_from_the_model_or_the_environment(tmp_path):
    env = write_generation_config(tmp_path, no_repeat_ngram_size=6)
    assert GeneratorSettings.from_env(env).no_repeat_ngram_size == 6
    assert GeneratorSettings.from_env({**env, "GENERATOR_NO_REPEAT_NGRAM_SIZE": "0"}).no_repeat_ngram_size == 0
    with pytest.raises(SettingsError, match="GENERATOR_NO_REPEAT_NGRAM_SIZE"):
        GeneratorSettings.from_env({**env, "GENERATOR_NO_REPEAT_NGRAM_SIZE": "-1"})
    with pytest.raises(SettingsError, match="generation_config.json"):
        GeneratorSettings.from_env(write_generation_config(tmp_path, no_repeat_ngram_size="six"))


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_more_new_tokens_than_the_model_has_positions_names_the_setting(family, generator_model_dirs):
    env = {"MODEL_DIR": str(generator_model_dirs[family])}
    # The prompt (end-of-text, title marker) takes cache positions too: 255 new
    # tokens fill the model's 256, and 256 would not fit (it used to pass the
    # check and fail at the first song).
    settings = GeneratorSettings.from_env({**env, "GENERATOR_MAX_NEW_TOKENS": "255"})
    assert settings.max_new_tokens == 255
    from generator.runtime import load_runtime
    assert load_runtime(settings).engine.cache.length == 256
    with pytest.raises(SettingsError, match="256 and the 2-token prompt exceed the 256 positions"):
        GeneratorSettings.from_env({**env, "GENERATOR_MAX_NEW_TOKENS": "256"})
    with pytest.raises(SettingsError, match=r"GENERATOR_MAX_NEW_TOKENS=2000 .*\(at most 255 new tokens\)"):
        GeneratorSettings.from_env({**env, "GENERATOR_MAX_NEW_TOKENS": "2000"})
    # Asked for by nobody, the default (1024) gives way to what the positions allow.
    assert GeneratorSettings.from_env(env).max_new_tokens == 255


def test_urgent_rows_must_leave_a_row_for_pregeneration():
    assert GeneratorSettings.from_env({"GENERATOR_MAX_BATCH": "16", "GENERATOR_URGENT_ROWS": "4"}).urgent_rows == 4
    with pytest.raises(SettingsError, match="GENERATOR_URGENT_ROWS=16"):
        GeneratorSettings.from_env({"GENERATOR_MAX_BATCH": "16", "GENERATOR_URGENT_ROWS": "16"})


def test_rhymes_from_the_model_or_the_environment(tmp_path):
    assert GeneratorSettings.from_env({"MODEL_DIR": str(tmp_path)}).rhyme is False  # off unless asked
    env = write_generation_config(tmp_path, rhyme=True, rhyme_schemes=["ABCB"], rhyme_attempts=1,
                                  rhyme_min_probability=0.01)
    s = GeneratorSettings.from_env(env)
    assert (s.rhyme, s.rhyme_schemes, s.rhyme_attempts, s.rhyme_min_probability) == (True, ("ABCB",), 1, 0.01)
    s = GeneratorSettings.from_env({**env, "GENERATOR_RHYME": "off", "GENERATOR_RHYME_SCHEMES": "AABB, ABAB",
                                    "GENERATOR_RHYME_ATTEMPTS": "0", "GENERATOR_RHYME_MIN_PROBABILITY": "0.5"})
    assert (s.rhyme, s.rhyme_schemes, s.rhyme_attempts, s.rhyme_min_probability) == (False, ("AABB", "ABAB"), 0, 0.5)


@pytest.mark.parametrize("name,value", [("GENERATOR_RHYME", "maybe"), ("GENERATOR_RHYME_SCHEMES", "AABB,abab"),
                                        ("GENERATOR_RHYME_SCHEMES", "AABB,,ABAB"),
                                        ("GENERATOR_RHYME_ATTEMPTS", "-1"), ("GENERATOR_RHYME_ATTEMPTS", "17"),
                                        ("GENERATOR_RHYME_MIN_PROBABILITY", "1.5"),
                                        ("GENERATOR_RHYME_MIN_PROBABILITY", "nan")])
def test_a_bad_rhyme_setting_names_itself(name, value):
    with pytest.raises(SettingsError, match=name):
        GeneratorSettings.from_env({"MODEL_DIR": "/nonexistent", "GENERATOR_RHYME": "on", name: value})


@pytest.mark.parametrize("values", [{"rhyme": "yes"}, {"rhyme_schemes": "AABB"}, {"rhyme_schemes": []},
                                    {"rhyme_schemes": ["AABB", 3]}, {"rhyme_attempts": True},
                                    {"rhyme_min_probability": 2}])
def test_a_bad_rhyme_generation_config_names_the_file(tmp_path, values):
    with pytest.raises(SettingsError, match="generation_config.json"):
        GeneratorSettings.from_env(write_generation_config(tmp_path, **values))


def test_rhymes_need_their_word_list(tmp_path):
    env = {"MODEL_DIR": "/nonexistent", "GENERATOR_RHYME": "on"}
    with pytest.raises(SettingsError, match="GENERATOR_RHYME_WORDS"):
        GeneratorSettings.from_env({**env, "GENERATOR_RHYME_WORDS": str(tmp_path / "missing")})
    assert GeneratorSettings.from_env({**env, "GENERATOR_RHYME_WORDS": "any"}).rhyme_words == ""


def test_max_lines_from_the_model_or_the_environment(tmp_path):
    assert GeneratorSettings.from_env({"MODEL_DIR": str(tmp_path)}).max_lines == 0  # off unless asked
    env = write_generation_config(tmp_path, max_lines=40)
    assert GeneratorSettings.from_env(env).max_lines == 40
    assert GeneratorSettings.from_env({**env, "GENERATOR_MAX_LINES": "12"}).max_lines == 12
    for bad in ("-1", "many", "1001"):
        with pytest.raises(SettingsError, match="GENERATOR_MAX_LINES"):
            GeneratorSettings.from_env({**env, "GENERATOR_MAX_LINES": bad})
    for bad in (-3, "forty", True):
        with pytest.raises(SettingsError, match="max_lines"):
            GeneratorSettings.from_env(write_generation_config(tmp_path, max_lines=bad))


def test_line_plans_come_from_the_model_alone(tmp_path):
    assert GeneratorSettings.from_env({"MODEL_DIR": str(tmp_path)}).line_plans is False
    env = write_generation_config(tmp_path, line_plans=True)
    assert GeneratorSettings.from_env(env).line_plans is True
    for bad in (1, "yes"):
        with pytest.raises(SettingsError, match="line_plans"):
            GeneratorSettings.from_env(write_generation_config(tmp_path, line_plans=bad))


@pytest.mark.parametrize("key,name", [("max_word_run", "GENERATOR_MAX_WORD_RUN"),
                                      ("max_pair_repeats", "GENERATOR_MAX_PAIR_REPEATS")])
def test_the_stutter_rule_from_the_model_or_the_environment(tmp_path, key, name):
    assert getattr(GeneratorSettings.from_env({"MODEL_DIR": str(tmp_path)}), key) == 0  # off unless asked
    env = write_generation_config(tmp_path, **{key: 2})
    assert getattr(GeneratorSettings.from_env(env), key) == 2
    assert getattr(GeneratorSettings.from_env({**env, name: "3"}), key) == 3
    for bad in ("-1", "two", "65"):
        with pytest.raises(SettingsError, match=name):
            GeneratorSettings.from_env({**env, name: bad})
    for bad in (-1, "two", True):
        with pytest.raises(SettingsError, match=key):
            GeneratorSettings.from_env(write_generation_config(tmp_path, **{key: bad}))
