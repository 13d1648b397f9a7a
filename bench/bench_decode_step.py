"""One decode step of the generator's model, reading only the cache blocks the
furthest row has filled against reading the whole static cache (what every step
did before), at the same batch, cache length and positions, in one run. Prints
one table and writes JSON; ``--profile`` adds where a step's time goes
(torch.profiler, by operator).

CPU (here):  python bench/bench_decode_step.py --config smollm2-135m --batch 16
"""
from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def time_steps(model, cache, batch: int, position: int, furthest: int | None, steps: int) -> float:
    """Seconds per step with every row at ``position`` (best of three runs of
    ``steps`` steps: the least disturbed by the machine's other work)."""
    import torch

    tokens = torch.zeros(batch, dtype=torch.int64, device=model.device)
    pos = torch.full((batch,), position, dtype=torch.int64, device=model.device)
    model.step(tokens, pos, cache, furthest)  # warm-up at this shape
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            model.step(tokens, pos, cache, furthest)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def profile_step(model, cache, batch: int, position: int, steps: int) -> str:
    import torch
    from torch.profiler import ProfilerActivity, profile

    tokens = torch.zeros(batch, dtype=torch.int64, device=model.device)
    pos = torch.full((batch,), position, dtype=torch.int64, device=model.device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            model.step(tokens, pos, cache, position)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def main(argv=None) -> int:
    from bench_generator import CONFIGS, make_model

    from billionsongs.common import cli

    def positions(text: str) -> list[int]:
        parse = cli.int_at_least(0)
        return [parse(part) for part in text.split(",")]

    parser = cli.Parser(prog="bench/bench_decode_step.py", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="smollm2-135m", choices=sorted(CONFIGS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--batch", type=cli.int_at_least(1, 4096), default=16)
    parser.add_argument("--cache", type=cli.int_at_least(1), default=773,
                        help="cache positions (the bundled model's: 768 new tokens + a 6-token prompt - 1)")
    parser.add_argument("--positions", type=positions, default="63,255,511,772",
                        help="furthest row's position, comma-separated (default 63,255,511,772)")
    parser.add_argument("--steps", type=cli.int_at_least(1), default=5, help="steps per timing")
    parser.add_argument("--threads", type=cli.int_at_least(0), default=1, help="torch threads; 0: torch's default")
    parser.add_argument("--profile", action="store_true", help="also print a profile of a step at the last position")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "decode-step-cpu.json"))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds; results thrown away")
    args = parser.parse_args(argv)
    scratch = tempfile.TemporaryDirectory()
    if args.smoke:
        args.config, args.batch, args.cache, args.positions, args.steps = "tiny-llama", 2, 130, [3, 129], 1
        args.profile, args.out = True, str(Path(scratch.name) / "decode-step.json")
    if max(args.positions) >= args.cache:
        parser.error(f"--positions must be below --cache {args.cache}")

    import torch

    from generator.weights import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(make_model(Path(scratch.name) / args.config, CONFIGS[args.config]), args.device, args.dtype)
    cache = model.new_cache(args.batch, args.cache)
    rows = []
    for position in args.positions:
        filled = time_steps(model, cache, args.batch, position, position, args.steps)
        whole = time_steps(model, cache, args.batch, position, None, args.steps)
        rows.append(dict(position=position, blocks_read=position // 64 + 1, blocks=cache.blocks,
                         filled_ms=filled * 1e3, whole_ms=whole * 1e3, speedup=whole / filled))
    header = f"{'position':>8} {'blocks read':>11} {'filled ms':>10} {'whole ms':>9} {'speed-up':>8}"
    print(f"\ndecode step: {args.config}, batch {args.batch}, cache {args.cache} positions, {args.device} "
          f"{args.dtype}, torch threads {torch.get_num_threads()}\n{header}\n{'-' * len(header)}")
    for r in rows:
        print(f"{r['position']:>8} {r['blocks_read']:>5} of {r['blocks']:<3} {r['filled_ms']:>10.2f} "
              f"{r['whole_ms']:>9.2f} {r['speedup']:>7.2f}x")
    if args.profile:
        print(f"\nwhere a step's time goes (position {args.positions[-1]}, filled blocks):")
        print(profile_step(model, cache, args.batch, args.positions[-1], args.steps))
    result = dict(config=args.config, device=args.device, dtype=args.dtype, batch=args.batch, cache=args.cache,
                  threads=torch.get_num_threads(), torch=torch.__version__, machine=platform.machine(),
                  when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), rows=rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
