"""python -m generator serve | generate --seed ID (the console script billionsongs-generator)

``--help`` (also after a command) prints help and exits 0; a bad argument, a bad
setting or a directory that holds no model is one line naming it and exit status 2."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from billionsongs.common import cli
from billionsongs.common.settings import load_or_exit

log = logging.getLogger("generator")
PROG = "python -m generator"


def check_model_dir(path: str, name: str) -> None:
    """A save_pretrained directory has config.json, a LoRA adapter adapter_config.json;
    say which setting is wrong if neither."""
    if not Path(path).is_dir():
        raise cli.fail(PROG, f"{name}={path}: no such directory")
    if not any((Path(path) / f).is_file() for f in ("config.json", "adapter_config.json")):
        raise cli.fail(PROG, f"{name}={path}: not a save_pretrained model directory or LoRA adapter "
                             f"(no config.json or adapter_config.json)")


def load_model(load, path: str, name: str):
    """``load()``, with a model that cannot be read said in one line naming ``name``."""
    check_model_dir(path, name)
    try:
        return load()
    except (OSError, ValueError, KeyError) as e:
        raise cli.fail(PROG, f"{name}={path}: the model could not be loaded: {e}") from None


def cmd_serve(args) -> int:
    from billionsongs.common.grpcserver import serve
    from billionsongs.common.logs import setup_logging
    from billionsongs.common.metrics import start_metrics_server
    from generator.release import describe_model
    from generator.server import build_server
    from generator.settings import GeneratorSettings
    from generator.workers import WorkerPool

    settings = load_or_exit("generator", GeneratorSettings.from_env)
    cli.check_listen(PROG, "GENERATOR_LISTEN", settings.listen)
    setup_logging("generator", settings.log_level, settings.log_format)
    model = load_model(lambda: describe_model(settings.model_dir, settings.base_models_dir),
                       settings.model_dir, "MODEL_DIR")
    log.info("model %s from %s (%s, %s, %s x%d, max batch %d)", model.name, settings.model_dir,
             settings.device, settings.dtype, settings.worker_mode, settings.workers, settings.max_batch)
    try:
        start_metrics_server(settings.metrics_port)
    except OSError as e:
        raise cli.fail(PROG, f"METRICS_PORT={settings.metrics_port}: {e}") from None
    pool = WorkerPool(settings)
    try:
        server, _ = build_server(settings, pool, model)
    except (OSError, RuntimeError) as e:
        raise cli.fail(PROG, f"GENERATOR_LISTEN={settings.listen}: {e}") from None
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

    # --model-dir stands for MODEL_DIR: the sampling settings come from that
    # model's generation_config.json, not from the default model's.
    env = {**os.environ, "MODEL_DIR": args.model_dir} if args.model_dir else None
    settings = load_or_exit("generator", lambda: GeneratorSettings.from_env(env))
    name = "--model-dir" if args.model_dir else "MODEL_DIR"
    runtime = load_model(lambda: load_runtime(settings), settings.model_dir, name)
    model = describe_model(settings.model_dir, settings.base_models_dir)
    release = release_id(model.digest, generation_settings(settings, runtime.device, model.prompt))
    for seed in args.seed:
        f = runtime.engine.generate([seed])[seed]
        song = assemble(runtime.tokenizer, seed, f.tokens, f.failed, settings.max_new_tokens, runtime.prefix,
                        runtime.plans)
        print(f"# {song.title}\n(song {seed}, model release {release}, {len(f.tokens)} tokens"
              f"{', FAILED: ' + song.failure if song.failed else ''})\n\n{song.lyrics}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog=PROG, description="Billion Songs generator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{serve,generate}")
    sub.add_parser("serve", help="run the gRPC server (settings from the environment, see docs/settings.md)",
                   description="Run the gRPC server; every setting comes from the environment (see docs/settings.md).")
    gen = sub.add_parser("generate", help="print the song for one or more ids")
    gen.add_argument("--seed", type=cli.song_id, action="append", required=True,
                     help="song id, 0 to 18446744073709551615; repeatable")
    gen.add_argument("--model-dir", help="save_pretrained directory (default: MODEL_DIR)")
    args = parser.parse_args(argv)
    handler = {"serve": cmd_serve, "generate": cmd_generate}
    return handler[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
