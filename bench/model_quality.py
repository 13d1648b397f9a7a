"""Do the bundled model's songs read as songs? Generates songs for ids 1-100
through the generator's own engine and measures them beside 100 real songs.

    .venv/bin/python bench/model_quality.py \
        [--model models/billionsongs-smollm2 [models/other ...]] [--ids 100] [--first-id 1] \
        [--corpus ../shared/corpus/songs.csv] [--temperature T] [--top-k K] \
        [--no-repeat-ngram-size N] [--smoke]

Songs come from generator.engine (the code `make run` serves) with the
sampling the generator serves each model with (GeneratorSettings: its
generation_config.json, else our defaults), after the prompt <|endoftext|>;
so song N here is song N on the site (float32 on CPU).

Per song: ends with <|endoftext|> within the limit; has a title of its own
(not empty, not the first lyric line); at least 4 non-empty lines; no line
repeated more than 4 times in a row ("all four" needs every one). Loops: a
song loops when a line repeats more than 4 times in a row or fewer than 60% of
its word 4-grams are distinct (every held-out real song has at least 67%).
Assistant habits: a line opening "Sure,"/"Certainly!"/"Here's a song", or
"As an AI", "I hope you enjoy", "assistant", chat markers.
Over all songs: distinct-4-gram ratio (distinct word 4-grams / all 4-grams);
words found in the English word list (/usr/share/dict/words, Debian's
wamerican) or anywhere in the corpus; the rhyme rate: the share of lines whose
end word the CMU pronouncing dictionary knows (`pronouncing`) whose end word
rhymes (same rhyming part, different word) with the end word of one of the two
lines before it in the same stanza. Grammar, by Link Grammar (Debian's
link-grammar with the system Python's binding python3-link-grammar, run by
bench/linkgrammar_parse.py): the lyrics joined across lines and cut at
.!?;: into sentences, those of 3-40 words parsed; the share parsed with no
word left out (the parser's time limit counts as not parsed) and the words it
must leave out per 100 words. Stutter: songs with a line holding one word 3
times running or one word pair 3 times. Line plans (a model trained with
them): the share of lyric lines that end on their planned word.

The same measures are taken on 100 real songs the training run held out
(corpus.split_validation with the training tool's seed), in the same run.
Writes bench/results/model-quality.json and prints a table and 10 samples.
--smoke: a tiny random model, 3 songs, no corpus, results thrown away.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "models" / "billionsongs-smollm2"
WORD_LIST = Path("/usr/share/dict/words")
TRAINING_SEED = 1337          # training.train's --seed default: the held-out songs
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
# What an instruct model says around an answer, not what a song says ("Here's a
# health to them that's awa" is Burns).
ASSISTANT = re.compile(r"^\s*(sure|certainly|of course)[,!.]|^\s*here(?:'s| is) (a|an|your|the) "
                       r"(song|poem|lyrics?|verse)\b|as an ai\b|\bi hope (this|you enjoy)\b|"
                       r"\bassistant\b|<\|im_", re.IGNORECASE | re.MULTILINE)
# Below any of 100 held-out real songs (their lowest was 0.67, a chorus song).
LOOP_DISTINCT_4 = 0.6


def generate(model_dir: str, ids: list[int], overrides: dict, batch: int) -> tuple[list[dict], dict]:
    """Finished songs (title, lyrics, ended) per id, and the sampling used."""
    import dataclasses

    from generator.runtime import load_runtime
    from generator.settings import GeneratorSettings
    from generator.songs import assemble, decode

    settings = GeneratorSettings.from_env({"MODEL_DIR": model_dir})
    settings = dataclasses.replace(settings, device="cpu", dtype="float32", max_batch=batch, threads=0,
                                   **{k: v for k, v in overrides.items() if v is not None})
    runtime = load_runtime(settings)
    gen, tokenizer = runtime.engine.gen, runtime.tokenizer
    done = runtime.engine.generate(ids)
    songs = []
    for i in ids:
        r = assemble(tokenizer, i, done[i].tokens, done[i].failed, gen.max_new_tokens, runtime.prefix, runtime.plans)
        hits, planned = plan_hits(decode(tokenizer, done[i].tokens)) if runtime.plans else (0, 0)
        songs.append({"id": i, "title": r.title, "lyrics": r.lyrics, "ended": not done[i].failed,
                      "failure": r.failure, "tokens": len(done[i].tokens), "sampled": done[i].sampled,
                      "rewinds": done[i].rewinds, "plan_hits": hits, "planned_lines": planned})
    sampling = {"top_k": gen.top_k, "temperature": gen.temperature, "max_new_tokens": gen.max_new_tokens,
                "no_repeat_ngram_size": gen.no_repeat_ngram_size, "max_lines": gen.max_lines,
                "line_plans": gen.line_plans, "max_word_run": gen.max_word_run,
                "max_pair_repeats": gen.max_pair_repeats,
                "rhyme": {"schemes": list(gen.rhyme_schemes), "attempts": gen.rhyme_attempts,
                          "min_probability": gen.rhyme_min_probability} if gen.rhyme_schemes else None}
    return songs, sampling


def plan_hits(text: str) -> tuple[int, int]:
    """(lyric lines that end on their planned word, lyric lines with a plan) of
    a song's raw text (line plans in it)."""
    from generator.songformat import LYRICS_MARKER, PLAN_CLOSE, PLAN_OPEN, end_word
    hits = planned = 0
    for line in text.split(LYRICS_MARKER, 1)[-1].replace("<|endoftext|>", "").split("\n"):
        if line.startswith(PLAN_OPEN) and PLAN_CLOSE in line:
            plan, _, rest = line[1:].partition(PLAN_CLOSE)
            if plan.strip() and rest.strip():
                planned += 1
                hits += end_word(rest) == plan.strip()
    return hits, planned


def sentences_of(lyrics: str) -> list[str]:
    """The lyrics joined across lines, cut at .!?;: into sentences of 3-40 words."""
    text = " ".join(lines_of(lyrics))
    out = []
    for part in re.split(r"[.!?;:]+", text):
        words = [w for w in part.split() if any(c.isalpha() for c in w)]
        if 3 <= len(words) <= 40:
            out.append(" ".join(part.split()))
    return out


LINK_PARSER = REPO / "bench" / "linkgrammar_parse.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def grammar(songs: list[dict]) -> dict | None:
    """Link Grammar over every sentence of the songs (LINK_PARSER in the system
    Python): the share parsed whole and the words left out per 100 words;
    None when the parser is not installed."""
    import os
    import subprocess
    sentences = [s for song in songs for s in sentences_of(song["lyrics"])]
    if not sentences:
        return {"sentences": 0, "parsed_whole": None, "left_out_per_100_words": None, "timeouts": 0}
    proc = subprocess.run([SYSTEM_PYTHON, str(LINK_PARSER)], input="\n".join(json.dumps(s) for s in sentences),
                          capture_output=True, text=True, env={**os.environ, "LC_ALL": "C.UTF-8"}, timeout=3600)
    if proc.returncode == 2:
        print(f"bench/model_quality.py: no grammar measure: {proc.stderr.strip()}", file=sys.stderr)
        return None
    proc.check_returncode()
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if len(results) != len(sentences):
        raise RuntimeError(f"{LINK_PARSER} answered {len(results)} of {len(sentences)} sentences")
    whole = sum(r["null"] == 0 and not r["timeout"] for r in results)
    words = sum(r["words"] for r in results)
    return {"sentences": len(results), "parsed_whole": round(whole / len(results), 4),
            "left_out_per_100_words": round(100 * sum(r["null"] for r in results) / max(1, words), 2),
            "timeouts": sum(r["timeout"] for r in results)}


def stutters(lyrics: str) -> bool:
    """A line with one word 3 times running, or one word pair 3 times."""
    for line in lines_of(lyrics):
        words = words_of(line)
        pairs = list(zip(words, words[1:]))
        if any(words[k] == words[k + 1] == words[k + 2] for k in range(len(words) - 2)) or \
                any(pairs.count(p) >= 3 for p in set(pairs)):
            return True
    return False


def held_out_songs(corpus: Path, n: int) -> list[dict]:
    from training.corpus import read_corpus, split_validation

    songs = read_corpus([corpus], column="lyrics", title_column="title", group_column="book")
    _, val = split_validation(songs, 0.05, TRAINING_SEED)
    return [{"id": s.source, "title": s.title, "lyrics": s.lyrics, "ended": True, "failure": ""}
            for s in val[:n]]


def lines_of(lyrics: str) -> list[str]:
    return [line.strip() for line in lyrics.splitlines() if line.strip()]


def max_run(lines: list[str]) -> int:
    best = run = 0
    prev = None
    for line in lines:
        run = run + 1 if line == prev else 1
        prev, best = line, max(best, run)
    return best


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())


def loops(lyrics: str) -> bool:
    """A line more than 4 times in a row, or so much repetition that under
    LOOP_DISTINCT_4 of the song's word 4-grams are distinct (choruses stay above)."""
    if max_run(lines_of(lyrics)) > 4:
        return True
    words = lyrics.lower().split()
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    return bool(grams) and len(set(grams)) / len(grams) < LOOP_DISTINCT_4


@cache
def rhyming_parts(word: str) -> frozenset[str]:
    import pronouncing
    return frozenset(pronouncing.rhyming_part(p) for p in pronouncing.phones_for_word(word))


def rhymes(a: str, b: str) -> bool:
    """Same rhyming part in some pronunciation of each, and not the same word."""
    return a != b and bool(rhyming_parts(a) & rhyming_parts(b))


def rhyme_counts(lyrics: str) -> tuple[int, int]:
    """(lines whose end word rhymes with one of the two lines before it in the
    stanza, lines whose end word the CMU dictionary knows)."""
    rhyming = known = 0
    for stanza in re.split(r"\n\s*\n", lyrics):
        ends = [(words_of(line) or [""])[-1] for line in lines_of(stanza)]
        for i, word in enumerate(ends):
            if not rhyming_parts(word):
                continue
            known += 1
            rhyming += any(rhymes(word, ends[j]) for j in range(max(0, i - 2), i))
    return rhyming, known


def measure(song: dict) -> dict:
    lines = lines_of(song["lyrics"])
    first = lines[0].rstrip(",;:—-").strip() if lines else ""
    has_title = bool(song["title"]) and song["title"].lower() != first.lower()
    rhyming, known = rhyme_counts(song["lyrics"])
    return {**song, "has_title": has_title, "lines": len(lines), "four_lines": len(lines) >= 4,
            "max_repeat": max_run(lines), "no_loop": max_run(lines) <= 4, "loops": loops(song["lyrics"]),
            "assistant": bool(ASSISTANT.search(song["title"] + "\n" + song["lyrics"])),
            "stutters": stutters(song["lyrics"]),
            "rhyming_lines": rhyming, "known_end_lines": known}


def distinct_4(songs: list[dict]) -> float:
    grams, total = set(), 0
    for s in songs:
        words = s["lyrics"].split()
        for i in range(len(words) - 3):
            grams.add(tuple(words[i:i + 4]))
            total += 1
    return len(grams) / total if total else 0.0


def known_words(corpus: Path | None) -> set[str]:
    known = {w.strip().lower() for w in WORD_LIST.read_text(errors="replace").splitlines()} \
        if WORD_LIST.exists() else set()
    if corpus is not None and corpus.exists():
        with corpus.open(newline="", encoding="utf-8") as f:
            known |= {w for row in csv.DictReader(f) for w in words_of(row["lyrics"] + " " + row["title"])}
    return known


def summarise(songs: list[dict], known: set[str]) -> dict:
    n = len(songs)
    share = lambda key: sum(bool(s[key]) for s in songs) / n  # noqa: E731
    words = [w for s in songs for w in words_of(s["title"] + " " + s["lyrics"])]
    rhyming = sum(s["rhyming_lines"] for s in songs)
    known_lines = sum(s["known_end_lines"] for s in songs)
    return {
        "songs": n, "ended_within_limit": share("ended"), "has_own_title": share("has_title"),
        "at_least_4_lines": share("four_lines"), "no_line_repeated_over_4": share("no_loop"),
        "all_four": sum(s["ended"] and s["has_title"] and s["four_lines"] and s["no_loop"] for s in songs) / n,
        "distinct_4gram_ratio": round(distinct_4(songs), 4),
        "words_found": round(sum(w in known for w in words) / len(words), 4) if words and known else None,
        "rhyme_rate": round(rhyming / known_lines, 4) if known_lines else None,
        "looping_songs": sum(s["loops"] for s in songs),
        "assistant_songs": sum(s["assistant"] for s in songs),
        "stuttering_songs": sum(s["stutters"] for s in songs),
        "mean_lines": round(sum(s["lines"] for s in songs) / n, 1),
        "mean_words_per_line": round(sum(len(words_of(line)) for s in songs for line in lines_of(s["lyrics"]))
                                     / max(1, sum(s["lines"] for s in songs)), 2),
        # Generated songs only: tokens sampled, rewritten ones too, and lines rewritten to rhyme.
        "sampled_per_song": round(sum(s["sampled"] for s in songs) / n, 1) if "sampled" in songs[0] else None,
        "final_tokens_per_song": round(sum(s["tokens"] for s in songs) / n, 1) if "sampled" in songs[0] else None,
        "rewinds_per_song": round(sum(s["rewinds"] for s in songs) / n, 2) if "rewinds" in songs[0] else None,
        "lines_on_their_plan": round(sum(s["plan_hits"] for s in songs) / sum(s["planned_lines"] for s in songs), 4)
        if sum(s.get("planned_lines", 0) for s in songs) else None,
        **{f"grammar_{k}": v for k, v in (grammar(songs) or {}).items()},
    }


ROWS = [("end within the length limit", "ended_within_limit", "{:.0%}"),
        ("have a title of their own", "has_own_title", "{:.0%}"),
        ("have >= 4 lines", "at_least_4_lines", "{:.0%}"),
        ("no line repeated > 4 times in a row", "no_line_repeated_over_4", "{:.0%}"),
        ("all four at once", "all_four", "{:.0%}"),
        ("distinct-4-gram ratio", "distinct_4gram_ratio", "{:.3f}"),
        ("words in the word list or corpus", "words_found", "{:.1%}"),
        ("rhyme rate (lines)", "rhyme_rate", "{:.1%}"),
        ("songs that loop", "looping_songs", "{}"),
        ("songs with assistant phrases", "assistant_songs", "{}"),
        ("songs with a stuttering line", "stuttering_songs", "{}"),
        ("sentences Link Grammar parses whole", "grammar_parsed_whole", "{:.1%}"),
        ("words it leaves out per 100 words", "grammar_left_out_per_100_words", "{}"),
        ("sentences parsed (3-40 words)", "grammar_sentences", "{}"),
        ("lyric lines ending on their plan", "lines_on_their_plan", "{:.1%}"),
        ("mean non-empty lines", "mean_lines", "{}"),
        ("mean words per line", "mean_words_per_line", "{}"),
        ("tokens sampled per song (rewrites too)", "sampled_per_song", "{}"),
        ("tokens per finished song", "final_tokens_per_song", "{}"),
        ("lines rewritten to rhyme per song", "rewinds_per_song", "{}")]


def table(columns: dict[str, dict]) -> str:
    names = list(columns)
    width = max(len(r[0]) for r in ROWS)
    out = [f"| {'measure':<{width}} | " + " | ".join(names) + " |",
           f"| {'-' * width} | " + " | ".join("---:" for _ in names) + " |"]
    for label, key, fmt in ROWS:
        cells = [fmt.format(columns[n][key]) if columns[n].get(key) is not None else "n/a" for n in names]
        out.append(f"| {label:<{width}} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    from billionsongs.common.cli import Parser, float_above, int_at_least

    p = Parser(prog="bench/model_quality.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", default=[str(DEFAULT_MODEL)], help="one or more model directories")
    p.add_argument("--ids", type=int_at_least(1), default=100)
    p.add_argument("--first-id", type=int_at_least(0), default=1)
    p.add_argument("--threads", type=int_at_least(1), default=2)
    p.add_argument("--batch", type=int_at_least(1), default=25, help="engine rows")
    p.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "songs.csv"),
                   help="the training CSV: held-out real songs and known words (skipped when missing)")
    p.add_argument("--temperature", type=float_above(0.0), default=None, help="default: the model's")
    p.add_argument("--top-k", type=int_at_least(1), default=None, help="default: the model's")
    p.add_argument("--no-repeat-ngram-size", type=int_at_least(0), default=None, help="default: the model's")
    p.add_argument("--max-new-tokens", type=int_at_least(1), default=None, help="default: the model's")
    p.add_argument("--rhyme", choices=("model", "on", "off", "both"), default="model",
                   help="rhyme-scheme decoding: as the model's generation_config says, on, off, "
                        "or each model twice (off, then on) in the same run")
    p.add_argument("--rhyme-attempts", type=int_at_least(0), default=None, help="default: the model's")
    p.add_argument("--rhyme-min-probability", type=float, default=None, help="default: the model's")
    p.add_argument("--max-lines", type=int_at_least(0), default=None,
                   help="songs end after this many lines, at a rhyme group's end (0: off; default: the model's)")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "model-quality.json"))
    p.add_argument("--samples", type=int_at_least(0), default=10, help="songs printed per model")
    p.add_argument("--smoke", action="store_true", help="a tiny random model, 3 songs; results thrown away")
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)

    scratch = tempfile.TemporaryDirectory() if a.smoke else None
    if a.smoke:
        from training.randommodel import make_random_llama
        a.model = [str(make_random_llama(Path(scratch.name) / "tiny-llama", n_positions=1025,
                                         tie_word_embeddings=False, end_bias=1.0))]
        a.ids, a.corpus, a.out, a.samples = 3, "", str(Path(scratch.name) / "quality.json"), 1
    corpus = Path(a.corpus) if a.corpus and Path(a.corpus).exists() else None
    known = known_words(corpus)
    ids = list(range(a.first_id, a.first_id + a.ids))
    overrides = {"temperature": a.temperature, "top_k": a.top_k, "no_repeat_ngram_size": a.no_repeat_ngram_size,
                 "max_new_tokens": a.max_new_tokens, "rhyme_attempts": a.rhyme_attempts,
                 "rhyme_min_probability": a.rhyme_min_probability, "max_lines": a.max_lines}
    rhymes = {"model": [None], "on": [True], "off": [False], "both": [False, True]}[a.rhyme]
    columns, results = {}, {}
    for model, rhyme in [(m, r) for m in a.model for r in rhymes]:
        t0 = time.time()
        songs, sampling = generate(model, ids, {**overrides, "rhyme": rhyme}, a.batch)
        songs = [measure(s) for s in songs]
        name = Path(model).name + {None: "", False: " (rhymes off)", True: " (rhymes on)"}[rhyme]
        training = Path(model) / "training.json"
        summary = {**summarise(songs, known), "sampling": sampling, "generation_seconds": round(time.time() - t0, 1),
                   "validation_loss": json.loads(training.read_text()).get("validation_loss")
                   if training.exists() else None}
        columns[name], results[name] = summary, {"model": model, "summary": summary, "songs": songs}
    if corpus is not None:
        real = [measure(s) for s in held_out_songs(corpus, a.ids)]
        columns["real songs (held out)"] = summarise(real, known)
        results["real songs (held out)"] = {"summary": columns["real songs (held out)"], "songs": real}
    print(table(columns))
    print()
    for name, result in results.items():
        if "model" not in result:
            continue
        print(f"== {name}: {result['summary']['sampling']}")
        for s in result["songs"][:a.samples]:
            print(f"--- song {s['id']}: {s['title']}\n{s['lyrics']}\n")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"ids": [ids[0], ids[-1]], "results": results}, indent=1,
                                      ensure_ascii=False) + "\n")
    print(f"wrote {a.out}", file=sys.stderr)
    if scratch is not None:
        scratch.cleanup()
    return columns


if __name__ == "__main__":
    main()
