"""Everything a generating process loads once: model, tokenizer, engine.
Imports torch: only worker processes, the CLI's `generate` and the bench use it."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tokenizers import Tokenizer

from generator.compiled import compile_step
from generator.engine import Engine, GenerationConfig
from generator.release import writes_titles
from generator.rhymes import RhymeTable, read_words
from generator.settings import GeneratorSettings
from generator.songformat import END_OF_TEXT, song_prompt
from generator.songs import end_of_text_id, load_tokenizer
from generator.weights import load_model


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("GENERATOR_DEVICE=cuda but CUDA is not available")
    return device


@dataclass
class Runtime:
    engine: Engine
    tokenizer: Tokenizer
    device: str
    prefix: str = ""   # the prompt's text after END_OF_TEXT: songs.assemble(prefix=...)
    plans: bool = False  # the model writes line plans: songs.assemble(plans=...)


def load_runtime(settings: GeneratorSettings) -> Runtime:
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = resolve_device(settings.device)
    tokenizer = load_tokenizer(settings.model_dir)
    model = load_model(settings.model_dir, device, settings.dtype, settings.base_models_dir)
    compile_step(model, settings.compile)  # "off": the eager step stays
    eot = end_of_text_id(tokenizer)
    prefix = song_prompt(writes_titles(settings.model_dir)).removeprefix(END_OF_TEXT)
    prompt = (eot, *tokenizer.encode(prefix, add_special_tokens=False).ids)
    gen = GenerationConfig(eot_id=eot, max_new_tokens=settings.max_new_tokens, prompt=prompt,
                           top_k=settings.top_k, temperature=settings.temperature,
                           no_repeat_ngram_size=settings.no_repeat_ngram_size,
                           rhyme_schemes=settings.rhyme_schemes if settings.rhyme else (),
                           rhyme_attempts=settings.rhyme_attempts,
                           rhyme_min_probability=settings.rhyme_min_probability, max_lines=settings.max_lines,
                           line_plans=settings.line_plans, max_word_run=settings.max_word_run,
                           max_pair_repeats=settings.max_pair_repeats)
    titled = prefix != ""
    table = None
    if gen.needs_rules or titled:
        words = read_words(settings.rhyme_words) if gen.rhyme_schemes and settings.rhyme_words else None
        table = RhymeTable(tokenizer, eot, model.config.vocab_size, device, words, plans=gen.line_plans)
    engine = Engine(model, gen, settings.max_batch, settings.urgent_rows, rhyme_table=table,
                    titled=titled, prefix=prefix)
    return Runtime(engine, tokenizer, device, prefix, gen.line_plans)
