"""One table of the project's speed ratios, each this project against the plain
alternative measured in the same run, read from the benches' JSON results
(bench/results/): the engine against transformers ``generate``
(bench_generator.py), the cached song page against a minimal Flask page
(load.py), votes through the votes service against ``pgbench -N``
(bench_votes.py). Prints a Markdown table and writes it as JSON.

    python bench/summary.py                      # after running the benches
    python bench/summary.py --generator bench/results/generator-cpu.json \\
        --generator bench/results/generator-cpu-smollm2.json
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GOALS = {"engine": 5.0, "page": 0.8, "votes": 0.5}  # issue 20's goals, as ratios


def generator_rows(result: dict) -> list[dict]:
    """Engine against transformers generate at each batch size of one run."""
    by_batch: dict[int, dict[str, float]] = {}
    for row in result["rows"]:
        if row["method"] in ("engine", "transformers.generate"):
            by_batch.setdefault(row["batch"], {})[row["method"]] = row["songs_per_s"]
    rows = []
    for batch, methods in sorted(by_batch.items()):
        if len(methods) == 2:
            ours, plain = methods["engine"], methods["transformers.generate"]
            rows.append(dict(what=f"engine, {result['config']}, {result['new_tokens']} new tokens, batch {batch}",
                             ours=f"{ours:,.2f} songs/s", plain=f"{plain:,.2f} songs/s (transformers generate)",
                             ratio=ours / plain, goal=GOALS["engine"], when=result.get("when", "")))
    return rows


def page_row(result: dict) -> dict:
    ours, plain = result["cached_song_page"]["rps"], result["minimal_flask_page"]["rps"]
    return dict(what="cached song page (wrk, same gunicorn)", ours=f"{ours:,.0f} req/s",
                plain=f"{plain:,.0f} req/s (minimal Flask page)", ratio=ours / plain, goal=GOALS["page"],
                when=result.get("when", ""))


def votes_row(result: dict) -> dict:
    ours, plain = result["votes_spread"]["votes_per_s"], result["pgbench"]["tps"]
    return dict(what="votes through the votes service (gRPC, 8 clients)", ours=f"{ours:,.0f} votes/s",
                plain=f"{plain:,.0f} TPS (pgbench -N)", ratio=ours / plain, goal=GOALS["votes"],
                when=result.get("measured_at", ""))


def table(rows: list[dict]) -> str:
    lines = ["| bench | this project | plain alternative, same run | ratio | goal | measured |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['ours']} | {r['plain']} | {r['ratio']:.2f}x | "
                     f">= {r['goal']:g}x | {r['when']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from billionsongs.common import cli

    parser = cli.Parser(prog="bench/summary.py", description=__doc__.splitlines()[0])
    parser.add_argument("--generator", action="append", help="bench_generator.py JSON (repeatable; default: "
                        "generator-cpu.json and generator-cpu-smollm2.json)")
    parser.add_argument("--load", default=str(RESULTS / "load.json"), help="load.py JSON")
    parser.add_argument("--votes", default=str(RESULTS / "votes.json"), help="bench_votes.py JSON")
    parser.add_argument("--out", default=str(RESULTS / "summary.json"))
    parser.add_argument("--smoke", action="store_true", help="read the committed results; write nothing there")
    args = parser.parse_args(argv)
    scratch = tempfile.TemporaryDirectory()
    if args.smoke:
        args.out = str(Path(scratch.name) / "summary.json")
    generators = args.generator or [str(RESULTS / "generator-cpu.json"), str(RESULTS / "generator-cpu-smollm2.json")]
    try:
        rows = [r for path in generators for r in generator_rows(json.loads(Path(path).read_text()))]
        rows += [page_row(json.loads(Path(args.load).read_text())),
                 votes_row(json.loads(Path(args.votes).read_text()))]
    except (OSError, KeyError, json.JSONDecodeError) as error:
        print(f"bench/summary.py: cannot read a result: {error}", file=sys.stderr)
        return 2
    print(table(rows))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                              rows=rows), indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
