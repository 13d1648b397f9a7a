"""Do the bundled model's songs read as songs? Generates songs for 100 ids and
measures them.

    PYTHONPATH=services/generator .venv/bin/python bench/model_quality.py \
        [--model models/billionsongs-small] [--ids 100] [--first-id 1] \
        [--corpus ../shared/corpus/songs.csv] [--temperature T] [--top-k K]

Songs come from the generator service's own engine (generator.engine, the
same code `make run` serves), with the sampling the generator serves the model
with (its generation_config.json: top-k, temperature, max_new_tokens) after the
prompt <|endoftext|>; so song N here is song N on the site (float32 on CPU).

Per song: ends with <|endoftext|> within the limit; has a title of its own
(title marker present, title not empty and not just the first lyric line);
at least 4 non-empty lines; no line repeated more than 4 times in a row.
Over all songs: distinct-4-gram ratio (distinct word 4-grams / all 4-grams)
and, when the corpus is at hand, the share of lyric words that occur in it
(a word the model invented, like "pugorral", does not).
--temperature and --top-k try other sampling settings than the model's.
Writes bench/results/model-quality.json and prints a table and 5 samples.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

import torch
from transformers import GenerationConfig

from generator.songformat import LYRICS_MARKER, TITLE_MARKER, parse_song

REPO = Path(__file__).resolve().parent.parent


def generate(model_dir: str, ids: list[int], top_k: int, temperature: float,
             max_new: int) -> list[tuple[str, bool]]:
    """(text, ended) per song id, written by the generator's engine."""
    from generator.engine import Engine, GenerationConfig as EngineConfig
    from generator.model import load_gpt2
    from generator.songs import decode, end_of_text_id, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    gen = EngineConfig(eot_id=end_of_text_id(tokenizer), max_new_tokens=max_new, top_k=top_k,
                       temperature=temperature)
    done = Engine(load_gpt2(model_dir, "cpu"), gen, max_batch=len(ids)).generate(ids)
    return [(decode(tokenizer, done[i].tokens), not done[i].failed) for i in ids]


def max_run(lines: list[str]) -> int:
    best = run = 0
    prev = None
    for line in lines:
        run = run + 1 if line == prev else 1
        prev, best = line, max(best, run)
    return best


def measure(text: str, ended: bool) -> dict:
    song = parse_song(text)
    lines = [l.strip() for l in song.lyrics.splitlines() if l.strip()]
    first = lines[0].rstrip(",;:—-").strip() if lines else ""
    has_title = (TITLE_MARKER in text and LYRICS_MARKER in text and bool(song.title)
                 and song.title.lower() != first.lower())
    return {"title": song.title, "lyrics": song.lyrics, "ended": ended, "has_title": has_title,
            "lines": len(lines), "four_lines": len(lines) >= 4, "max_repeat": max_run(lines),
            "no_loop": max_run(lines) <= 4}


WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())


def corpus_words(path: Path, column: str = "lyrics") -> set[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return {w for row in csv.DictReader(f) for w in words_of(row[column] + " " + row.get("title", ""))}


def known_share(songs: list[dict], known: set[str]) -> float:
    words = [w for s in songs for w in words_of(s["title"] + " " + s["lyrics"])]
    return sum(w in known for w in words) / len(words) if words else 0.0


def distinct_4(songs: list[dict]) -> float:
    grams, total = set(), 0
    for s in songs:
        words = s["lyrics"].split()
        for i in range(len(words) - 3):
            grams.add(tuple(words[i:i + 4]))
            total += 1
    return len(grams) / total if total else 0.0


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it and exit status 2, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def at_least(minimum: int):
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {minimum}")
        return int(text)
    parse.__name__ = "whole number"
    return parse


def main(argv: list[str] | None = None) -> dict:
    p = OneLineParser(prog="bench/model_quality.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "models" / "billionsongs-small"))
    p.add_argument("--ids", type=at_least(1), default=100)
    p.add_argument("--first-id", type=at_least(0), default=1)
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "songs.csv"),
                   help="training CSV for the known-word share (skipped when missing)")
    p.add_argument("--temperature", type=float, default=None, help="default: the model's")
    p.add_argument("--top-k", type=at_least(1), default=None, help="default: the model's")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "model-quality.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)

    gen = GenerationConfig.from_pretrained(a.model)
    gen.temperature = a.temperature if a.temperature is not None else gen.temperature
    gen.top_k = a.top_k if a.top_k is not None else gen.top_k
    ids = list(range(a.first_id, a.first_id + a.ids))
    t0 = time.time()
    texts = generate(a.model, ids, gen.top_k, gen.temperature, gen.max_new_tokens)
    seconds = time.time() - t0
    songs = [dict(id=i, **measure(t, e)) for i, (t, e) in zip(ids, texts)]
    n = len(songs)
    share = lambda key: sum(s[key] for s in songs) / n  # noqa: E731
    training = Path(a.model) / "training.json"
    val_loss = json.loads(training.read_text()).get("validation_loss") if training.exists() else None
    summary = {
        "model": str(Path(a.model).resolve().relative_to(REPO)) if Path(a.model).resolve().is_relative_to(REPO)
        else a.model,
        "songs": n, "first_id": a.first_id,
        "sampler": f"generator engine: top-k {gen.top_k}, temperature {gen.temperature}, "
                   f"max {gen.max_new_tokens} new tokens, float32 CPU",
        "ended_within_limit": share("ended"), "has_own_title": share("has_title"),
        "at_least_4_lines": share("four_lines"), "no_line_repeated_over_4": share("no_loop"),
        "all_four": sum(s["ended"] and s["has_title"] and s["four_lines"] and s["no_loop"] for s in songs) / n,
        "distinct_4gram_ratio": round(distinct_4(songs), 4),
        "known_word_share": round(known_share(songs, corpus_words(Path(a.corpus))), 4)
        if Path(a.corpus).exists() else None,
        "mean_lines": sum(s["lines"] for s in songs) / n,
        "validation_loss": val_loss, "generation_seconds": round(seconds, 1),
    }
    rows = [("songs", n), ("end within the length limit", f"{summary['ended_within_limit']:.0%}"),
            ("have a title of their own", f"{summary['has_own_title']:.0%}"),
            ("have >= 4 lines", f"{summary['at_least_4_lines']:.0%}"),
            ("no line repeated > 4 times in a row", f"{summary['no_line_repeated_over_4']:.0%}"),
            ("all four at once", f"{summary['all_four']:.0%}"),
            ("distinct-4-gram ratio", f"{summary['distinct_4gram_ratio']:.3f}"),
            ("words found in the corpus", f"{summary['known_word_share']:.1%}"
             if summary["known_word_share"] is not None else "n/a (no corpus)"),
            ("mean non-empty lines", f"{summary['mean_lines']:.1f}"),
            ("validation loss (training)", f"{val_loss:.3f}" if val_loss is not None else "n/a")]
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}} | value\n{'-' * width}-|------")
    for k, v in rows:
        print(f"{k:<{width}} | {v}")
    print()
    for s in songs[:5]:
        print(f"--- song {s['id']}: {s['title']}\n{s['lyrics']}\n")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"summary": summary, "songs": songs}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {a.out}", file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
