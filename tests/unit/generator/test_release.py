import dataclasses
import shutil

import pytest

from generator.release import describe_model, files_digest, generation_settings, release_id


@pytest.fixture
def model_copy(generator_model_dir, tmp_path):
    return shutil.copytree(generator_model_dir, tmp_path / "m")


def test_release_changes_with_weights_tokenizer_and_settings(model_copy, generator_settings):
    digest = files_digest(model_copy)
    gen = generation_settings(generator_settings, "cpu")
    base = release_id(digest, gen)
    assert release_id(files_digest(model_copy), gen) == base          # stable
    (model_copy / "README.md").write_text("notes")                     # not a model file
    assert files_digest(model_copy) == digest

    weights = model_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert files_digest(model_copy) != digest

    tokenizer = model_copy / "tokenizer.json"
    before = files_digest(model_copy)
    tokenizer.write_text(tokenizer.read_text().replace("\n", " \n", 1))
    assert files_digest(model_copy) != before

    for change in ({"top_k": 20}, {"temperature": 0.9}, {"max_new_tokens": 64}, {"dtype": "bfloat16"},
                   {"no_repeat_ngram_size": 6}, {"max_lines": 30},
                   {"max_batch": 32}, {"rhyme": True}):
        other = generation_settings(dataclasses.replace(generator_settings, **change), "cpu")
        assert release_id(digest, other) != base, change
    assert release_id(digest, generation_settings(generator_settings, "cuda:0")) != base
    assert release_id(digest, generation_settings(generator_settings, "cuda:1")) == \
        release_id(digest, generation_settings(generator_settings, "cuda:0"))


def test_describe_model(generator_model_dir, tmp_path):
    d = describe_model(generator_model_dir)
    assert d.writes_titles and len(d.digest) == 64
    with pytest.raises(FileNotFoundError):
        describe_model(tmp_path)


def test_the_torch_version_is_part_of_the_release(generator_settings, monkeypatch):
    import generator.release as release
    gen = generation_settings(generator_settings, "cpu")
    monkeypatch.setattr(release, "torch_version", lambda: "99.0.0")
    assert release_id("d" * 64, generation_settings(generator_settings, "cpu")) != release_id("d" * 64, gen)


def test_the_decode_steps_arithmetic_is_part_of_the_release(generator_settings, monkeypatch):
    import generator.release as release
    gen = generation_settings(generator_settings, "cpu")
    monkeypatch.setattr(release, "DECODE_STEP", "another-v2")
    assert release_id("d" * 64, generation_settings(generator_settings, "cpu")) != release_id("d" * 64, gen)


def test_the_song_rules_are_part_of_the_release(generator_settings, monkeypatch):
    import generator.release as release
    gen = generation_settings(generator_settings, "cpu")
    monkeypatch.setattr(release, "SONG_RULES", "another-v2")
    assert release_id("d" * 64, generation_settings(generator_settings, "cpu")) != release_id("d" * 64, gen)


def test_an_adapters_release_covers_its_base(tmp_path, generator_llama_dir):
    import json
    bases = tmp_path / "bases"
    base = shutil.copytree(generator_llama_dir, bases / "tiny")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "tiny"}))
    (adapter / "adapter_model.safetensors").write_bytes(b"adapter")
    shutil.copy(generator_llama_dir / "tokenizer.json", adapter)
    (adapter / "training.json").write_text(json.dumps({"args": {"title_column": "title"}}))
    d = describe_model(adapter, bases)
    assert d.writes_titles and "LoRA adapter on tiny" in d.name
    weights = base / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert files_digest(adapter, bases) != d.digest       # the base changed: a new release
    (adapter / "adapter_model.safetensors").write_bytes(b"other")
    assert len({files_digest(adapter, bases), d.digest}) == 2


def test_rhyme_settings_are_part_of_the_release_only_while_rhymes_are_on(generator_settings, tmp_path):
    off = generation_settings(generator_settings, "cpu")
    assert "rhyme" not in off  # a release without rhymes keeps the id it had before they existed
    words = tmp_path / "words"
    words.write_text("night\nlight\n")
    on = dataclasses.replace(generator_settings, rhyme=True, rhyme_words=str(words))
    base = release_id("d", generation_settings(on, "cpu"))
    for change in ({"rhyme_schemes": ("ABCB",)}, {"rhyme_attempts": 2}, {"rhyme_min_probability": 0.1},
                   {"rhyme_words": ""}):
        assert release_id("d", generation_settings(dataclasses.replace(on, **change), "cpu")) != base, change
    words.write_text("night\nlight\nsight\n")  # another word list, other songs
    assert release_id("d", generation_settings(on, "cpu")) != base
    assert release_id("d", generation_settings(dataclasses.replace(on, rhyme=False), "cpu")) == \
        release_id("d", off)


def test_a_compiled_step_is_part_of_the_release_only_while_on(generator_settings):
    off = generation_settings(generator_settings, "cpu")
    assert "compile" not in off  # an eager release keeps the id it had before compile existed
    ids = {mode: release_id("d", generation_settings(dataclasses.replace(generator_settings, compile=mode), "cpu"))
           for mode in ("off", "default", "reduce-overhead")}
    assert ids["off"] == release_id("d", off)
    assert len(set(ids.values())) == 3  # compiled kernels may round differently: each mode its own release


def test_line_plans_and_the_stutter_rule_are_part_of_the_release_only_while_on(generator_settings):
    off = generation_settings(generator_settings, "cpu")
    assert "line_plans" not in off and "stutter" not in off  # other releases keep their ids
    ids = {release_id("d", generation_settings(dataclasses.replace(generator_settings, **change), "cpu"))
           for change in ({}, {"line_plans": True}, {"max_word_run": 2}, {"max_word_run": 3},
                          {"max_pair_repeats": 2})}
    assert len(ids) == 5
