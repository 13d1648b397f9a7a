"""python -m generator serve | generate --seed ID | make-random-model DIR"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from billionsongs.common.settings import load_or_exit

log = logging.getLogger("generator")


def cmd_serve(args) -> int:
    from billionsongs.common.grpcserver import serve
    from billionsongs.common.logs import setup_logging
    from billionsongs.common.metrics import start_metrics_server
    from generator.pool import WorkerPool
    from generator.release import describe_model
    from generator.server import build_server
    from generator.settings import GeneratorSettings

    settings = load_or_exit("generator", GeneratorSettings.from_env)
    setup_logging("generator", settings.log_level, settings.log_format)
    model = describe_model(settings.model_dir, settings.base_models_dir)
    log.info("model %s from %s (%s, %s, %s x%d, max batch %d)", model.name, settings.model_dir,
             settings.device, settings.dtype, settings.worker_mode, settings.workers, settings.max_batch)
    start_metrics_server(settings.metrics_port)
    pool = WorkerPool(settings)
    server, _ = build_server(settings, pool, model)
    pool.start()
    try:
        # Health turns SERVING only after wait_ready: the workers are warm.
        serve(server, ready=pool.wait_ready, on_stop=pool.stop)
    finally:
        pool.stop()
    return 0


def cmd_generate(args) -> int:
    from generator.release import describe_model, generation_settings, release_id
    from generator.runtime import load_runtime
    from generator.settings import GeneratorSettings
    from generator.songs import assemble

    settings = load_or_exit("generator", GeneratorSettings.from_env)
    if args.model_dir:
        settings = dataclasses.replace(settings, model_dir=args.model_dir)
    runtime = load_runtime(settings)
    release = release_id(describe_model(settings.model_dir, settings.base_models_dir).digest, generation_settings(settings, runtime.device))
    for seed in args.seed:
        f = runtime.engine.generate([seed])[seed]
        song = assemble(runtime.tokenizer, seed, f.tokens, f.failed, settings.max_new_tokens)
        print(f"# {song.title}\n(song {seed}, model release {release}, {song.token_count} tokens"
              f"{', FAILED: ' + song.failure if song.failed else ''})\n\n{song.lyrics}\n")
    return 0


def cmd_make_random_model(args) -> int:
    from generator.randommodel import make_random_model

    path = make_random_model(args.dir, n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                             end_bias=args.end_bias)
    print(f"random GPT-2 written to {path} (its songs are noise)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator", description="Billion Songs generator")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the gRPC server (settings from the environment, see README)")
    gen = sub.add_parser("generate", help="print the song for one or more ids")
    gen.add_argument("--seed", type=int, action="append", required=True, help="song id (uint64); repeatable")
    gen.add_argument("--model-dir", help="save_pretrained directory (default: MODEL_DIR)")
    rnd = sub.add_parser("make-random-model", help="write a small random GPT-2 and tokenizer to DIR")
    rnd.add_argument("dir")
    rnd.add_argument("--n-layer", type=int, default=2)
    rnd.add_argument("--n-head", type=int, default=4)
    rnd.add_argument("--n-embd", type=int, default=128)
    rnd.add_argument("--end-bias", type=float, default=0.5,
                     help="lift the end-of-text logit so random songs end (default 0.5)")
    args = parser.parse_args(argv)
    handler = {"serve": cmd_serve, "generate": cmd_generate, "make-random-model": cmd_make_random_model}
    return handler[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
