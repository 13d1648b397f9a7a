"""The generator's settings, read from environment variables at start-up."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

from billionsongs.common.settings import (
    SettingsError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_log_level,
    env_str,
)
from generator.rhymes import DEFAULT_SCHEMES, valid_scheme

# services/generator/generator/settings.py -> repository root
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "billionsongs-smollm2"  # a LoRA adapter (make model)
DEFAULT_BASE_MODELS_DIR = REPO_ROOT / ".local" / "base-models"  # `make base-model` fills it

DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "bfloat16", "float16")
WORKER_MODES = ("batched", "per-request")
# torch.compile of the decode step (generator.compiled); "reduce-overhead" adds CUDA graphs.
COMPILE_MODES = ("off", "default", "reduce-overhead")


@dataclasses.dataclass(frozen=True)
class GeneratorSettings:
    listen: str = "127.0.0.1:50051"
    model_dir: str = str(DEFAULT_MODEL_DIR)
    # Where a LoRA adapter's base model is found, by the name in its adapter_config.json.
    base_models_dir: str = str(DEFAULT_BASE_MODELS_DIR)
    device: str = "auto"             # "auto": cuda when available, else cpu
    dtype: str = "float32"
    compile: str = "off"             # the decode step through torch.compile (COMPILE_MODES); in the release id
    worker_mode: str = "batched"     # or "per-request": a fresh process per song
    workers: int = 1                 # batched: engine processes; per-request: warm spares
    # Every decode step runs at exactly this many rows (idle rows are padding),
    # so the numerics of a row never depend on the batch around it.
    max_batch: int = 64
    # Rows bulk pregeneration never takes: a visitor's new song starts at the next step.
    urgent_rows: int = 0
    max_songs_per_request: int = 1024
    # Song calls (GetSong, GetSongs, StreamSong) in flight at once, each holding a handler
    # thread while it waits; more are refused RESOURCE_EXHAUSTED with a retry hint, and
    # health checks and GetModelInfo always find a thread of their own.
    max_calls: int = 64
    # Sampling: the environment, else the model's generation_config.json, else
    # the original's settings (top-k 40, temperature 1, 1024 new tokens).
    max_new_tokens: int = 1024
    top_k: int = 40
    temperature: float = 1.0
    no_repeat_ngram_size: int = 0    # 0: off; else no n-gram of this many tokens twice in a song
    # Rhyme-scheme decoding (generator.rhymes): on or off, the schemes a song's
    # id picks from, and the free rewrites of a line before its last word is
    # chosen among rhyming words.
    rhyme: bool = False
    rhyme_schemes: tuple[str, ...] = DEFAULT_SCHEMES
    rhyme_attempts: int = 0
    # A line is rewritten only where the model found a rhyming word at least this likely.
    rhyme_min_probability: float = 0.0
    # The words a rewrite may end a line with (a file, one word per line; "":
    # any the pronouncing dictionary knows, GENERATOR_RHYME_WORDS=any). Debian's wamerican by default.
    rhyme_words: str = "/usr/share/dict/words"
    # A song that has this many lines ends at the next line that closes a
    # rhyme group (generator.rhymes.SongRules; 0: the model alone ends songs).
    max_lines: int = 0
    # The model writes each lyric line's end word first (its generation_config.json's
    # line_plans, written by billionsongs-train --line-plans; not an environment setting:
    # it is how the model was trained).
    line_plans: bool = False
    # Within a lyric line, no word more than this many times running, and no
    # word pair more than this many times (generator.rhymes.Stutter; 0: off).
    max_word_run: int = 0
    max_pair_repeats: int = 0
    threads: int = 0                 # torch intra-op threads per worker; 0: torch's default
    metrics_port: int = 0            # 0: no /metrics endpoint
    log_level: str = "INFO"
    log_format: str = "json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GeneratorSettings:
        d = cls()
        model_dir = env_str("MODEL_DIR", d.model_dir, env)
        model = model_sampling(model_dir)
        settings = cls(
            listen=env_str("GENERATOR_LISTEN", d.listen, env),
            model_dir=model_dir,
            base_models_dir=env_str("GENERATOR_BASE_MODELS_DIR", d.base_models_dir, env),
            device=env_choice("GENERATOR_DEVICE", DEVICES, d.device, env),
            dtype=env_choice("GENERATOR_DTYPE", DTYPES, d.dtype, env),
            compile=env_choice("GENERATOR_COMPILE", COMPILE_MODES, d.compile, env),
            worker_mode=env_choice("GENERATOR_WORKER_MODE", WORKER_MODES, d.worker_mode, env),
            workers=env_int("GENERATOR_WORKERS", d.workers, env, minimum=1, maximum=64),
            max_batch=env_int("GENERATOR_MAX_BATCH", d.max_batch, env, minimum=1, maximum=4096),
            urgent_rows=env_int("GENERATOR_URGENT_ROWS", d.urgent_rows, env, minimum=0, maximum=4095),
            max_songs_per_request=env_int("GENERATOR_MAX_SONGS_PER_REQUEST", d.max_songs_per_request,
                                          env, minimum=1),
            max_calls=env_int("GENERATOR_MAX_CALLS", d.max_calls, env, minimum=1, maximum=10000),
            max_new_tokens=env_int("GENERATOR_MAX_NEW_TOKENS", model.get("max_new_tokens", d.max_new_tokens),
                                   env, minimum=1),
            top_k=env_int("GENERATOR_TOP_K", model.get("top_k", d.top_k), env, minimum=1),
            temperature=env_float("GENERATOR_TEMPERATURE", model.get("temperature", d.temperature),
                                  env, minimum=0.0),
            no_repeat_ngram_size=env_int("GENERATOR_NO_REPEAT_NGRAM_SIZE",
                                         model.get("no_repeat_ngram_size", d.no_repeat_ngram_size),
                                         env, minimum=0, maximum=64),
            rhyme=env_bool("GENERATOR_RHYME", model.get("rhyme", d.rhyme), env),
            rhyme_schemes=env_schemes("GENERATOR_RHYME_SCHEMES", model.get("rhyme_schemes", d.rhyme_schemes), env),
            rhyme_attempts=env_int("GENERATOR_RHYME_ATTEMPTS", model.get("rhyme_attempts", d.rhyme_attempts),
                                   env, minimum=0, maximum=16),
            rhyme_min_probability=env_float("GENERATOR_RHYME_MIN_PROBABILITY",
                                            model.get("rhyme_min_probability", d.rhyme_min_probability),
                                            env, minimum=0.0, maximum=1.0),
            # "any": every word the pronouncing dictionary knows (stored as "").
            rhyme_words="" if (words := env_str("GENERATOR_RHYME_WORDS", d.rhyme_words, env)) == "any" else words,
            max_lines=env_int("GENERATOR_MAX_LINES", model.get("max_lines", d.max_lines), env,
                              minimum=0, maximum=1000),
            line_plans=model.get("line_plans", d.line_plans),
            max_word_run=env_int("GENERATOR_MAX_WORD_RUN", model.get("max_word_run", d.max_word_run), env,
                                 minimum=0, maximum=64),
            max_pair_repeats=env_int("GENERATOR_MAX_PAIR_REPEATS",
                                     model.get("max_pair_repeats", d.max_pair_repeats), env, minimum=0, maximum=64),
            threads=env_int("GENERATOR_THREADS", d.threads, env, minimum=0),
            metrics_port=env_int("METRICS_PORT", d.metrics_port, env, minimum=0, maximum=65535),
            log_level=env_log_level("LOG_LEVEL", d.log_level, env),
            log_format=env_choice("LOG_FORMAT", ("json", "text"), d.log_format, env),
        )
        if settings.temperature <= 0:
            raise SettingsError("environment variable GENERATOR_TEMPERATURE must be above 0")
        if settings.urgent_rows >= settings.max_batch:
            raise SettingsError(f"GENERATOR_URGENT_ROWS={settings.urgent_rows} leaves no row of "
                                f"GENERATOR_MAX_BATCH={settings.max_batch} for pregeneration")
        if settings.rhyme and settings.rhyme_words and not Path(settings.rhyme_words).is_file():
            raise SettingsError(f"GENERATOR_RHYME_WORDS={settings.rhyme_words} is no file (install Debian's "
                                "wamerican, or set it to any for every word the pronouncing dictionary knows)")
        positions = model_positions(settings.model_dir, settings.base_models_dir)
        prompt = prompt_length(settings.model_dir)
        chosen = "GENERATOR_MAX_NEW_TOKENS" in (os.environ if env is None else env) or "max_new_tokens" in model
        if positions is not None and not chosen and settings.max_new_tokens + prompt - 1 > positions:
            # Nobody asked for the default's 1024: take what the model's positions allow.
            settings = dataclasses.replace(settings, max_new_tokens=positions - prompt + 1)
        if positions is not None and settings.max_new_tokens + prompt - 1 > positions:
            # The KV cache holds the prompt and every generated token but the
            # last; past the model's position table it cannot run.
            raise SettingsError(f"GENERATOR_MAX_NEW_TOKENS={settings.max_new_tokens} and the "
                                f"{prompt}-token prompt exceed the {positions} positions of the model in "
                                f"{settings.model_dir} (at most {positions - prompt + 1} new tokens)")
        return settings


def env_schemes(name: str, default: tuple[str, ...], env: Mapping[str, str] | None) -> tuple[str, ...]:
    """Comma-separated rhyme schemes ("AABB,ABCB"); raises SettingsError for an
    empty list or a scheme that is not 1 to 8 capital letters."""
    text = env_str(name, ",".join(default), env)
    schemes = tuple(s.strip() for s in text.split(","))
    bad = [s for s in schemes if not valid_scheme(s)]
    if bad or not schemes:
        raise SettingsError(f"environment variable {name} must be comma-separated schemes of 1 to 8 "
                            f"capital letters, e.g. AABB,ABCB; got {text!r}")
    return schemes


def prompt_length(model_dir: str | Path) -> int:
    """Tokens of the prompt every song starts from (end-of-text, and the title
    marker for a model that writes titles); 1 when the directory cannot tell
    (loading the model then reports what is wrong)."""
    from generator.release import writes_titles
    from generator.songformat import END_OF_TEXT, song_prompt
    from generator.songs import load_tokenizer
    try:
        prefix = song_prompt(writes_titles(model_dir)).removeprefix(END_OF_TEXT)
        return 1 + len(load_tokenizer(model_dir).encode(prefix, add_special_tokens=False).ids)
    except Exception:  # a missing or broken file (tokenizers raises a bare Exception)
        return 1


def model_positions(model_dir: str | Path, base_models_dir: str | Path) -> int | None:
    """How many positions the model (or an adapter's base) has; None when the
    directory cannot tell (loading the model then reports what is wrong)."""
    from generator.modeldir import model_config
    try:
        config = model_config(model_dir, base_models_dir)
    except (OSError, ValueError):
        return None
    positions = config.get("n_positions") or config.get("max_position_embeddings")
    return positions if isinstance(positions, int) else None


def model_sampling(model_dir: str | Path) -> dict:
    """The sampling settings a save_pretrained directory ships in its
    generation_config.json (only the keys it sets: a missing key is not
    transformers' default but ours). No file: {}; a broken one stops start-up."""
    path = Path(model_dir) / "generation_config.json"
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SettingsError(f"{path} is not readable JSON: {e}") from None
    checks = {"max_new_tokens": lambda v: isinstance(v, int) and v >= 1,
              "no_repeat_ngram_size": lambda v: isinstance(v, int) and 0 <= v <= 64,
              "top_k": lambda v: isinstance(v, int) and v >= 1,
              "temperature": lambda v: isinstance(v, (int, float)) and v > 0,
              "max_lines": lambda v: isinstance(v, int) and 0 <= v <= 1000,
              "rhyme": lambda v: isinstance(v, bool),
              "line_plans": lambda v: isinstance(v, bool),
              "max_word_run": lambda v: isinstance(v, int) and 0 <= v <= 64,
              "max_pair_repeats": lambda v: isinstance(v, int) and 0 <= v <= 64,
              "rhyme_attempts": lambda v: isinstance(v, int) and 0 <= v <= 16,
              "rhyme_min_probability": lambda v: isinstance(v, (int, float)) and 0 <= v <= 1,
              "rhyme_schemes": lambda v: isinstance(v, list) and v and all(isinstance(s, str) and valid_scheme(s)
                                                                           for s in v)}
    out = {}
    for key, ok in checks.items():
        if key in config and config[key] is not None:
            if (isinstance(config[key], bool) and key not in ("rhyme", "line_plans")) or not ok(config[key]):
                raise SettingsError(f"{path}: {key}={config[key]!r} is not a valid setting")
            out[key] = config[key]
    for key in ("temperature", "rhyme_min_probability"):
        if key in out:
            out[key] = float(out[key])
    if "rhyme_schemes" in out:
        out["rhyme_schemes"] = tuple(out["rhyme_schemes"])
    return out
