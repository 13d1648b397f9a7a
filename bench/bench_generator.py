"""Songs/s and tokens/s of the generator's batched engine against plain
transformers ``model.generate`` (do_sample, top-k 40) and the per-request
worker mode, on the same random-initialised GPT-2, batch sizes and lengths,
in one run. Prints one table and writes JSON.

CPU (here):  python bench/bench_generator.py
H100:        python bench/bench_generator.py --device cuda --dtype bfloat16 --config gpt2-124m \\
                 --new-tokens 256 --batch-sizes 1,64,512 --out bench/results/generator-h100.json

--compile adds an "engine (compiled)" row per --compile-batch-sizes: the same
engine with GENERATOR_COMPILE (reduce-overhead by default: CUDA graphs; on a
CPU it is the default mode); every block count's graph is compiled before the
clock starts, and the compile time is reported apart.

Every song runs to --new-tokens: the random model's end-of-text logit is
pushed out of the top-k (tokens are counted anyway), and the engine runs
without the song rules (titles, line and song ends), as generate does; the
served engine with its rules is measured by --rhyme-songs.
Each method is warmed up before its clock starts; the clock reads after a
device sync.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> make_random_model arguments; end_bias -20 keeps end-of-text out of
# the top-k, so every song of every method runs exactly --new-tokens.
CONFIGS = {
    "tiny": dict(n_layer=2, n_head=4, n_embd=128, end_bias=-20.0),
    "small": dict(n_layer=4, n_head=4, n_embd=256, end_bias=-20.0),
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768, model_vocab_size=50257, end_bias=-20.0),
    # The bundled model's base (SmolLM2-135M: Llama, 30 layers, 576 wide, 9 heads,
    # 3 key/value heads, 49,152 tokens); untied here only so end_bias can act.
    "smollm2-135m": dict(family="llama", n_layer=30, n_head=9, n_kv_head=3, hidden=576, intermediate=1536,
                         model_vocab_size=49152, n_positions=2048, tie_word_embeddings=False, end_bias=-20.0),
    "tiny-llama": dict(family="llama", n_layer=2, n_head=4, n_kv_head=2, hidden=128, intermediate=256,
                       tie_word_embeddings=False, end_bias=-20.0),
}


def make_model(directory: Path, config: dict) -> Path:
    from training.randommodel import make_random_llama, make_random_model
    config = dict(config)
    if config.pop("family", "gpt2") == "llama":
        return make_random_llama(directory, **config)
    return make_random_model(directory, **config)


def sync(device: str) -> None:
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_engine(settings, batch: int, new_tokens: int) -> dict:
    from generator.attention import BLOCK
    from generator.engine import Engine, GenerationConfig
    from generator.runtime import load_runtime

    compile_start = time.perf_counter()
    runtime = load_runtime(dataclasses.replace(settings, max_batch=batch))
    served = runtime.engine.gen
    # The same work as generate: end-of-text as the prompt, no song rules (a
    # titled model's rules end songs at line ends short of --new-tokens).
    engine = Engine(runtime.engine.model, GenerationConfig(eot_id=served.eot_id, max_new_tokens=new_tokens,
                                                           top_k=served.top_k, temperature=served.temperature),
                    batch)
    for i in range(batch):  # warm-up: a few steps at the same shape, then drop them
        engine.submit(10**9 + i)
    for _ in range(3):
        engine.step()
    for i in range(batch):
        engine.cancel(10**9 + i)
    extra = {}
    if settings.compile != "off":
        # One graph per block count: compile them all before the clock starts.
        # The K/V these steps write sit at the idle rows' position 0, which
        # every song's first step overwrites before reading.
        for blocks in range(engine.cache.blocks):
            engine.model.step(engine.tokens, engine.pos, engine.cache, blocks * BLOCK)
        sync(runtime.device)
        extra["compile_seconds"] = time.perf_counter() - compile_start
    sync(runtime.device)
    start = time.perf_counter()
    done = engine.generate(range(batch))
    sync(runtime.device)
    seconds = time.perf_counter() - start
    return dict(songs=len(done), tokens=sum(len(f.tokens) for f in done.values()), seconds=seconds, **extra)


def bench_transformers(settings, batch: int, new_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from generator.model import DTYPES
    from generator.modeldir import base_model_dir, is_adapter
    from generator.runtime import resolve_device
    from generator.songs import end_of_text_id, load_tokenizer

    device = resolve_device(settings.device)
    eot = end_of_text_id(load_tokenizer(settings.model_dir))
    if is_adapter(settings.model_dir):  # the same merged weights the engine serves
        from peft import PeftModel
        base = AutoModelForCausalLM.from_pretrained(base_model_dir(settings.model_dir, settings.base_models_dir))
        model = PeftModel.from_pretrained(base, settings.model_dir).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(settings.model_dir)
    model = model.to(device=device, dtype=DTYPES[settings.dtype]).eval()
    prompt = torch.full((batch, 1), eot, dtype=torch.long, device=device)
    kwargs = dict(attention_mask=torch.ones_like(prompt), do_sample=True, top_k=settings.top_k,
                  temperature=settings.temperature, pad_token_id=eot)
    with torch.inference_mode():
        model.generate(prompt, max_new_tokens=4, min_new_tokens=4, **kwargs)  # warm-up
        sync(device)
        start = time.perf_counter()
        out = model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kwargs)
        sync(device)
        seconds = time.perf_counter() - start
    return dict(songs=batch, tokens=batch * (out.shape[1] - 1), seconds=seconds)


def bench_rhymes(settings, batch: int, songs: int, rhyme: bool) -> dict:
    """Songs 1..``songs`` as the model writes them (its own sampling, its own
    lengths), rhyme-scheme decoding on or off: tokens sampled (rewritten lines
    too) against tokens kept, and the time."""
    from generator.runtime import load_runtime

    runtime = load_runtime(dataclasses.replace(settings, max_batch=batch, rhyme=rhyme))
    sync(runtime.device)
    start = time.perf_counter()
    done = runtime.engine.generate(range(1, songs + 1))
    sync(runtime.device)
    seconds = time.perf_counter() - start
    return dict(songs=len(done), tokens=sum(f.sampled for f in done.values()),
                kept_tokens=sum(len(f.tokens) for f in done.values()),
                rewinds=sum(f.rewinds for f in done.values()), seconds=seconds)


def bench_per_request(settings, songs: int) -> dict:
    """A fresh worker process per song (one warm spare), through the service's pool."""
    from generator.messages import Done
    from generator.workers import WorkerPool

    pool = WorkerPool(dataclasses.replace(settings, worker_mode="per-request", workers=1, max_batch=1))
    pool.start()
    try:
        pool.wait_ready(timeout=600)
        start = time.perf_counter()
        subs = [pool.subscribe([i]) for i in range(songs)]
        results = [sub.events.get() for sub in subs]
        seconds = time.perf_counter() - start
    finally:
        pool.stop()
    bad = [r for r in results if not isinstance(r, Done)]
    if bad:
        raise RuntimeError(f"per-request mode failed: {bad[0]}")
    return dict(songs=songs, tokens=sum(r.token_count for r in results), seconds=seconds)


def write_result(args, settings, rows: list[dict]) -> dict:
    """Add the rates to ``rows`` and write the run's JSON to ``args.out``; returns it."""
    import torch
    import transformers

    for row in rows:
        row["songs_per_s"] = row["songs"] / row["seconds"]
        row["tokens_per_s"] = row["tokens"] / row["seconds"]
    name = Path(args.model_dir).name if args.model_dir else args.config
    result = dict(config=name, device=args.device, dtype=args.dtype, new_tokens=args.new_tokens,
                  top_k=settings.top_k, threads=torch.get_num_threads(), torch=torch.__version__,
                  transformers=transformers.__version__, machine=platform.machine(), compile=args.compile,
                  when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), rows=rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv=None) -> int:
    from billionsongs.common import cli

    def batch_sizes(text: str) -> list[int]:
        parse = cli.int_at_least(1, 4096)
        return [parse(part) for part in text.split(",")]

    parser = cli.Parser(prog="bench/bench_generator.py", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--config", default="tiny", choices=sorted(CONFIGS))
    parser.add_argument("--new-tokens", type=cli.int_at_least(1), default=64)
    parser.add_argument("--batch-sizes", type=batch_sizes, default="1,8,32", help="comma-separated (default 1,8,32)")
    parser.add_argument("--per-request-songs", type=cli.int_at_least(0), default=3, help="0 skips per-request mode")
    parser.add_argument("--threads", type=cli.int_at_least(0), default=1,
                        help="torch threads (CPU); 0: torch's default")
    parser.add_argument("--model-dir", help="an existing save_pretrained dir instead of a random model")
    parser.add_argument("--rhyme-songs", type=cli.int_at_least(0), default=0,
                        help="also this many songs at each batch size with rhymes off and on, with the "
                             "model's own sampling and lengths (use with --model-dir; 0: skip)")
    parser.add_argument("--compile", nargs="?", const="reduce-overhead", choices=("default", "reduce-overhead"),
                        help='add an "engine (compiled)" row: GENERATOR_COMPILE=MODE (default reduce-overhead)')
    parser.add_argument("--compile-batch-sizes", type=batch_sizes,
                        help="the batch sizes of the compiled rows (default: --batch-sizes)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "generator-cpu.json"))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds; results thrown away")
    args = parser.parse_args(argv)
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    if args.smoke:
        args.config, args.new_tokens, args.batch_sizes, args.per_request_songs = "tiny-llama", 4, [1, 2], 1
        args.rhyme_songs = 2
        args.out = str(Path(scratch.name) / "generator.json")

    import torch

    from generator.settings import GeneratorSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or str(make_model(Path(tmp) / args.config, CONFIGS[args.config]))
        settings = GeneratorSettings(model_dir=model_dir, device=args.device, dtype=args.dtype,
                                     max_new_tokens=args.new_tokens, threads=args.threads)
        rows = []
        compiled = dataclasses.replace(settings, compile=args.compile) if args.compile else None
        for batch in args.batch_sizes:
            methods = [("engine", bench_engine, settings), ("transformers.generate", bench_transformers, settings)]
            if compiled is not None and batch in (args.compile_batch_sizes or args.batch_sizes):
                methods.insert(1, ("engine (compiled)", bench_engine, compiled))
            for method, fn, these in methods:
                rows.append(dict(method=method, batch=batch, **fn(these, batch, args.new_tokens)))
                print(f"  {method} batch {batch}: {rows[-1]['seconds']:.2f} s", file=sys.stderr, flush=True)
                write_result(args, settings, rows)  # so far: a run cut short by a timeout keeps its rows
        if args.rhyme_songs:
            own = dataclasses.replace(GeneratorSettings.from_env({"MODEL_DIR": model_dir}), device=args.device,
                                      dtype=args.dtype, threads=args.threads)
            if args.smoke:  # a random model's songs never end: a few tokens each
                own = dataclasses.replace(own, max_new_tokens=args.new_tokens)
            for batch in args.batch_sizes:
                for rhyme in (False, True):
                    rows.append(dict(method=f"engine, rhymes {'on' if rhyme else 'off'}", batch=batch,
                                     **bench_rhymes(own, batch, args.rhyme_songs, rhyme)))
                    print(f"  {rows[-1]['method']} batch {batch}: {rows[-1]['seconds']:.2f} s",
                          file=sys.stderr, flush=True)
        if args.per_request_songs:
            rows.append(dict(method="per-request (process per song)", batch=1,
                             **bench_per_request(settings, args.per_request_songs)))
    write_result(args, settings, rows)
    header = f"{'method':<32} {'batch':>5} {'songs':>5} {'tokens':>7} {'seconds':>8} {'songs/s':>9} {'tokens/s':>10}"
    name = Path(args.model_dir).name if args.model_dir else args.config
    print(f"\ngenerator bench: {name}, {args.device} {args.dtype}, {args.new_tokens} new tokens, "
          f"top-k {settings.top_k}, torch threads {torch.get_num_threads()}\n{header}\n{'-' * len(header)}")
    for r in rows:
        print(f"{r['method']:<32} {r['batch']:>5} {r['songs']:>5} {r['tokens']:>7} {r['seconds']:>8.2f} "
              f"{r['songs_per_s']:>9.2f} {r['tokens_per_s']:>10.1f}")
    compiles = [r for r in rows if "compile_seconds" in r]
    if compiles:
        print(f"\ncompiled step ({args.compile}): load and compile before the clock started")
        for r in compiles:
            print(f"{r['method']:<32} {r['batch']:>5} {r['compile_seconds']:>8.1f} s")
    rhyming = [r for r in rows if "kept_tokens" in r]
    if rhyming:
        print("\nrhymes: tokens sampled per song (rewritten lines too) and kept per song")
        for r in rhyming:
            print(f"{r['method']:<32} {r['batch']:>5} {r['tokens'] / r['songs']:>8.1f} sampled "
                  f"{r['kept_tokens'] / r['songs']:>8.1f} kept {r['rewinds'] / r['songs']:>6.2f} lines rewritten")
    print(f"\nwrote {args.out}")
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
