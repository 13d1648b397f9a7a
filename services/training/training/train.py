"""Train or fine-tune a GPT-2-family model on song lyrics.

    python -m training.train DATA... --column lyrics --title-column title \
        --weight-column book --out models/my-model

DATA are CSV files or folders (files picked by --include). Songs become
``<|title|>Title<|lyrics|>Lyrics<|endoftext|>``, are bundled into one stream
and cut into chunks of --context tokens. With --from PATH it fine-tunes that
save_pretrained GPT-2 (adding the format's tokens); without it, it trains a
byte-level BPE tokenizer on the corpus and a fresh GPT-2 of the given size.

Checkpoints (model, optimizer, scheduler, data position, RNG states) go to
--run-dir every --save-every steps; --checkpoint latest resumes the last one
exactly, as if the run had never stopped. The result is a save_pretrained
directory (safetensors, tokenizer, generation_config) the generator loads as is.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, GPT2Config, GPT2LMHeadModel

from billionsongs.common.cli import Parser, fail, float_above, int_at_least
from generator.songformat import END_OF_TEXT, LYRICS_MARKER, TITLE_MARKER, parse_song, plan_lines
from training.bpe import add_song_tokens, train_bpe
from training.corpus import (
    CorpusError,
    epoch_order,
    find_csv_files,
    group_weights,
    make_chunks,
    read_corpus,
    split_validation,
    training_text,
)

CHECKPOINT = "checkpoint.pt"
# Positions the served prompt may take besides the new tokens: end-of-text and
# the title marker (one token when it is a special token, 5 in SmolLM2's vocabulary).
PROMPT_ROOM = 8
BASE = "base"  # run-dir subfolder: the tokenizer and model config the run started from


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="+", help="CSV files or folders holding them")
    p.add_argument("-i", "--include", default="*.csv", help="file name pattern inside folders")
    p.add_argument("--column", default="lyrics", help="the lyrics column")
    p.add_argument("--title-column", default=None, help="the title column (no titles without it)")
    p.add_argument("--weight-column", default=None,
                   help="group column (e.g. book): each group's share of the stream ~ size**--weight-power")
    p.add_argument("--weight-power", type=float_at_least(0.0), default=0.5,
                   help="1 keeps rows as they come, 0 gives every group an equal share")
    p.add_argument("--out", default="models/trained", help="save_pretrained directory written at the end")
    p.add_argument("--run-dir", default=None, help="checkpoints and base tokenizer (default: OUT.run)")
    p.add_argument("--checkpoint", default="latest",
                   help="latest: resume the run's checkpoint if any; fresh: start over; or a checkpoint path")
    p.add_argument("--from", dest="base_model", default=None,
                   help="fine-tune this save_pretrained GPT-2 or Llama directory")
    p.add_argument("--lora-rank", type=int_at_least(0), default=0,
                   help="with --from: train a LoRA adapter of this rank on every linear layer (peft) "
                        "instead of every weight; the format's markers are then plain text (no new tokens)")
    p.add_argument("--lora-alpha", type=float_at_least(0.0), default=0, help="LoRA scale numerator (default: 2 x rank)")
    p.add_argument("--lora-dropout", type=fraction, default=0.05)
    # Model size (from scratch only).
    p.add_argument("--vocab-size", type=int_at_least(300), default=4096)
    p.add_argument("--n-layer", type=int_at_least(1), default=4)
    p.add_argument("--n-embd", type=int_at_least(1), default=256)
    p.add_argument("--n-head", type=int_at_least(1), default=4)
    p.add_argument("--n-positions", type=int_at_least(2), default=1025,
                   help="position table; 1 prompt token + 1024 new tokens must fit")
    p.add_argument("--dropout", type=fraction, default=0.1)
    # Data and optimisation.
    p.add_argument("--context", type=int_at_least(1), default=256, help="tokens per training chunk")
    p.add_argument("--val-fraction", type=fraction, default=0.05, help="share of songs held out")
    p.add_argument("--batch-size", type=int_at_least(1), default=16)
    p.add_argument("--grad-accum", type=int_at_least(1), default=1)
    p.add_argument("--lr", type=float_above(0.0), default=1e-3)
    p.add_argument("--min-lr", type=float_at_least(0.0), default=1e-4, help="cosine decay ends here")
    p.add_argument("--weight-decay", type=float_at_least(0.0), default=0.1)
    p.add_argument("--steps", type=int_at_least(1), default=1000)
    p.add_argument("--warmup", type=int_at_least(0), default=100)
    p.add_argument("--restart-at", type=int_at_least(1), default=None,
                   help="a warm restart at this step: warm-up again, then a second cosine to --steps (SGDR)")
    p.add_argument("--stop-at", type=int_at_least(0), default=0,
                   help="stop at this step with a checkpoint, to continue later (--checkpoint latest)")
    p.add_argument("--save-every", type=int_at_least(1), default=200)
    p.add_argument("--eval-every", type=int_at_least(1), default=200)
    p.add_argument("--eval-batches", type=int_at_least(1), default=20)
    p.add_argument("--sample-every", type=int_at_least(0), default=0,
                   help="print sample songs every N steps (0: never)")
    p.add_argument("--top-k", type=int_at_least(1), default=40,
                   help="sampling the model is served with (generation_config)")
    p.add_argument("--temperature", type=float_above(0.0), default=1.0, help="sampling temperature it is served with")
    p.add_argument("--max-new-tokens", type=int_at_least(1), default=None,
                   help="the longest song it is served with, in tokens (a longer one fails); "
                        f"default: 1024, or what the model's positions allow after {PROMPT_ROOM} for the prompt")
    p.add_argument("--no-repeat-ngram-size", type=int_at_least(0), default=0,
                   help="no n-gram of this many tokens twice in a song, as it is served (0: off)")
    p.add_argument("--rhyme-min-probability", type=fraction, default=None,
                   help="serve it with rhyme-scheme decoding on, at this threshold (docs/generation.md#rhymes)")
    p.add_argument("--max-lines", type=int_at_least(0), default=0,
                   help="served songs end after this many lines, when a rhyme group closes "
                        "(docs/generation.md#where-a-song-ends; 0: off)")
    p.add_argument("--max-word-run", type=int_at_least(0), default=0,
                   help="served songs: within a line no word more than this many times running (0: off)")
    p.add_argument("--max-pair-repeats", type=int_at_least(0), default=0,
                   help="served songs: within a line no word pair more than this many times (0: off)")
    p.add_argument("--line-plans", action="store_true",
                   help="write each lyric line's end word before the line (docs/model.md#line-plans)")
    p.add_argument("--autocast-bf16", action="store_true",
                   help="on a CPU too, matmuls in bfloat16 under autocast (weights and optimizer stay float32); "
                        "always on CUDA")
    p.add_argument("--seed", type=int_at_least(0), default=1337)
    p.add_argument("--threads", type=int_at_least(0), default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    positions = model_positions(a)
    if a.max_new_tokens is None:
        a.max_new_tokens = max(1, min(1024, positions - PROMPT_ROOM))
    problem = argument_problem(a, positions)
    if problem:
        p.error(problem)
    return a


def fraction(text: str) -> float:
    """argparse type: a number from 0 up to (not including) 1."""
    value = float_at_least(0.0)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to below 1")
    return value


def float_at_least(minimum: float):
    """argparse type: a finite number of at least ``minimum``."""
    above = float_above(float("-inf"))

    def parse(text: str) -> float:
        value = above(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of at least {minimum}")
        return value
    parse.__name__ = "number"
    return parse


def model_positions(a: argparse.Namespace) -> int:
    """Positions of the model the run trains: --n-positions, or --from's config.json."""
    if not a.base_model:
        return a.n_positions
    config_path = Path(a.base_model) / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: --from {a.base_model}: not a save_pretrained model directory ({e})") from None
    return config.get("n_positions") or config.get("max_position_embeddings") or 0


def argument_problem(a: argparse.Namespace, positions: int) -> str | None:
    """What is wrong with a combination of arguments, checked before any work; None if nothing."""
    if a.lora_rank and not a.base_model:
        return "argument --lora-rank: needs --from (a LoRA adapter rests on a base model)"
    if not a.base_model and a.n_embd % a.n_head:
        return f"argument --n-head: {a.n_head} does not divide --n-embd {a.n_embd}"
    if a.min_lr > a.lr:
        return f"argument --min-lr: {a.min_lr} is above --lr {a.lr}"
    if a.stop_at > a.steps:
        return f"argument --stop-at: {a.stop_at} is past --steps {a.steps}"
    if a.max_new_tokens + PROMPT_ROOM > positions:
        return (f"argument --max-new-tokens: {a.max_new_tokens} tokens and the prompt do not fit the "
                f"{positions} positions of the model")
    if a.restart_at is not None and a.restart_at >= a.steps:
        return f"argument --restart-at: step {a.restart_at} is not before the last step, {a.steps}"
    if a.context > positions:
        where = f"--from {a.base_model}" if a.base_model else "--n-positions"
        return f"argument --context: {a.context} tokens do not fit the {positions} positions of {where}"
    return None


def lr_at(step: int, a: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to min_lr at the last step (nanoGPT).

    With ``a.restart_at``, two such cycles: the first ends at that step, the
    second warms up again and ends at the last step; a warm restart
    (Loshchilov & Hutter, "SGDR", ICLR 2017), so a finished run can be taken
    further and one command still reproduces the whole of it."""
    start, end = 0, a.steps
    if a.restart_at:
        start, end = (a.restart_at, a.steps) if step >= a.restart_at else (0, a.restart_at)
    step -= start
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    progress = min(1.0, (step - a.warmup) / max(1, end - start - a.warmup))
    return a.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (a.lr - a.min_lr)


def with_lora(model, a: argparse.Namespace):
    """``model`` wrapped by peft with a fresh LoRA adapter on every linear layer
    (the output head excepted); only the adapter trains. LoRA: Hu et al. 2021,
    arXiv:2106.09685; alpha defaults to 2 x rank as in the QLoRA recipes."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=a.lora_rank, lora_alpha=a.lora_alpha or 2 * a.lora_rank,
                        lora_dropout=a.lora_dropout, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def build_fresh(a: argparse.Namespace, train_texts: list[str]):
    """Tokenizer and model the run starts from (before any training step)."""
    if a.base_model and a.lora_rank:
        # No new tokens: resizing a 49,152-row embedding would put the whole
        # matrix in the output; the markers are written with the base's own tokens.
        tokenizer = AutoTokenizer.from_pretrained(a.base_model)
        model = AutoModelForCausalLM.from_pretrained(a.base_model, dtype=torch.float32)
        return tokenizer, with_lora(model, a)
    if a.base_model:
        tokenizer = AutoTokenizer.from_pretrained(a.base_model)
        add_song_tokens(tokenizer)
        model = AutoModelForCausalLM.from_pretrained(a.base_model)
        model.resize_token_embeddings(len(tokenizer))
        return tokenizer, model
    tokenizer = train_bpe(train_texts, a.vocab_size)
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=a.n_positions, n_embd=a.n_embd,
                        n_layer=a.n_layer, n_head=a.n_head, resid_pdrop=a.dropout,
                        embd_pdrop=a.dropout, attn_pdrop=a.dropout, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos)
    return tokenizer, GPT2LMHeadModel(config)


def encode_song(tokenizer, song, line_plans: bool = False) -> list[int]:
    """Token ids of one song in the training format (songformat.format_song);
    ``line_plans``: each lyric line written after its end word (songformat.plan_lines).

    Title and lyrics are encoded with ``split_special_tokens``, so text from a
    CSV that spells a control token (``<|endoftext|>``, ``<|im_start|>``) stays
    text and never ends or splits a song. A marker is its own token where the
    tokenizer has it (a GPT-2 tokenizer trained or extended here), otherwise
    the base vocabulary's tokens for its text (a LoRA run on SmolLM2)."""
    def text(s: str) -> list[int]:
        return tokenizer(s, add_special_tokens=False, split_special_tokens=True, verbose=False)["input_ids"]

    def marker(m: str) -> list[int]:
        added = tokenizer.get_added_vocab()  # special tokens by text -> id
        return [added[m]] if m in added else text(m)

    eot = marker(END_OF_TEXT)
    lyrics = plan_lines(song.lyrics.strip()) if line_plans else song.lyrics.strip()
    if not song.title:  # no title column: lyrics only, titled by the generator from the first line
        return text(lyrics) + eot
    return (marker(TITLE_MARKER) + text(" ".join(song.title.split())) + marker(LYRICS_MARKER)
            + text(lyrics) + eot)


def generation_config(tokenizer, top_k: int = 40, temperature: float = 1.0,
                      no_repeat_ngram_size: int = 0, max_new_tokens: int = 1024,
                      rhyme_min_probability: float | None = None, max_lines: int = 0,
                      line_plans: bool = False, max_word_run: int = 0,
                      max_pair_repeats: int = 0) -> GenerationConfig:
    """The sampling the generator serves this model with (unless its environment
    says otherwise); the original's were top-k 40, temperature 1, 1024 new tokens.
    ``rhyme_min_probability`` (not None) turns the generator's rhyme-scheme
    decoding on with that threshold (docs/generation.md#rhymes); ``max_lines``
    (above 0) ends served songs after that many lines (docs/generation.md#where-a-song-ends)."""
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    extra = {} if rhyme_min_probability is None else {"rhyme": True,
                                                      "rhyme_min_probability": rhyme_min_probability}
    if max_lines:
        extra["max_lines"] = max_lines
    if line_plans:
        extra["line_plans"] = True
    if max_word_run:
        extra["max_word_run"] = max_word_run
    if max_pair_repeats:
        extra["max_pair_repeats"] = max_pair_repeats
    return GenerationConfig(do_sample=True, top_k=top_k, temperature=temperature, max_new_tokens=max_new_tokens,
                            no_repeat_ngram_size=no_repeat_ngram_size, bos_token_id=eos, eos_token_id=eos,
                            pad_token_id=eos, **extra)


def corpus_fingerprint(data: list[str], include: str) -> list[dict]:
    """Which files (by name, size and sha256, not by this machine's paths) the model was trained on."""
    return [{"file": path.name, "bytes": path.stat().st_size,
             "sha256": hashlib.sha256(path.read_bytes()).hexdigest()} for path in find_csv_files(data, include)]


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Batches:
    """Training batches in a fixed order: epoch e is the weighted song order
    epoch_order(seed, e), chunked, with its chunks shuffled by (seed, e). The
    position (epoch, index) is all a checkpoint needs to continue the order."""

    def __init__(self, token_lists, weights, eos_id, a, epoch=0, index=0):
        self.token_lists, self.weights, self.eos_id = token_lists, weights, eos_id
        self.context, self.batch_size, self.seed = a.context, a.batch_size, a.seed
        self.epoch, self.index = epoch, index
        self._load()

    def _load(self):
        order = epoch_order(self.weights, self.seed, self.epoch)
        chunks = make_chunks(self.token_lists, order, self.eos_id, self.context)
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        self.chunks = chunks[torch.randperm(len(chunks), generator=g)]

    def next(self) -> torch.Tensor:
        if self.index + self.batch_size > len(self.chunks):
            self.epoch, self.index = self.epoch + 1, 0
            self._load()
        batch = self.chunks[self.index: self.index + self.batch_size]
        self.index += len(batch)
        return batch


@torch.no_grad()
def evaluate(model, val_chunks, a, autocast) -> float:
    model.eval()
    losses = []
    for i in range(0, min(len(val_chunks), a.eval_batches * a.batch_size), a.batch_size):
        batch = val_chunks[i: i + a.batch_size].to(a.device)
        with autocast():
            losses.append(loss_of(model, batch))
    model.train()
    return sum(losses) / len(losses)


def loss_of(model, batch: torch.Tensor) -> torch.Tensor | float:
    """Next-token cross-entropy over a (B, T+1) chunk batch. We shift ourselves
    (inputs row[:-1], targets row[1:]) instead of passing labels=, which would
    shift again and waste the chunk's last token."""
    logits = model(input_ids=batch[:, :-1]).logits  # (B, T, V)
    loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
    return loss if model.training else loss.item()


@torch.no_grad()
def sample_songs(model, tokenizer, n: int, device: str, max_new_tokens: int = 300) -> list[str]:
    model.eval()
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    prompt = torch.full((n, 1), eos, dtype=torch.long, device=device)
    # A position table shorter than the sample would index past its end.
    positions = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    max_new_tokens = min(max_new_tokens, positions - 1)
    gen = model.generation_config
    out = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_k=gen.top_k,
                         temperature=gen.temperature, max_new_tokens=max_new_tokens, eos_token_id=eos,
                         pad_token_id=eos)
    model.train()
    songs = []
    for row in out[:, 1:].tolist():
        song = parse_song(tokenizer.decode(row, skip_special_tokens=False))
        songs.append(f"== {song.title} ==\n{song.lyrics}")
    return songs


def trained_state(model) -> dict[str, torch.Tensor]:
    """The weights a checkpoint must keep: all of them, or the adapter's alone
    under LoRA (the frozen base is reloaded from --from)."""
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k in trained or not hasattr(model, "peft_config")}


def save_checkpoint(path: Path, model, optimizer, step, batches, best_val, train_loss, seconds) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": trained_state(model), "optimizer": optimizer.state_dict(), "step": step,
                "epoch": batches.epoch, "index": batches.index, "rng": rng_state(),
                "val_loss": best_val, "train_loss": train_loss, "seconds": seconds}, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a half checkpoint as "latest"


def train(a: argparse.Namespace) -> dict:
    if a.threads:
        torch.set_num_threads(a.threads)
    out = Path(a.out)
    run_dir = Path(a.run_dir) if a.run_dir else out.with_name(out.name + ".run")
    run_dir.mkdir(parents=True, exist_ok=True)

    songs = read_corpus(a.data, a.include, a.column, a.title_column, a.weight_column)
    train_songs, val_songs = split_validation(songs, a.val_fraction, a.seed)
    train_texts = [training_text(s) for s in train_songs]

    ckpt_path = {"latest": run_dir / CHECKPOINT, "fresh": None}.get(a.checkpoint, Path(a.checkpoint))
    resume = ckpt_path is not None and ckpt_path.exists()
    if a.checkpoint not in ("latest", "fresh") and not resume:
        raise SystemExit(f"checkpoint {a.checkpoint} not found")
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    if resume and a.lora_rank:
        # The frozen base again, and a fresh adapter the checkpoint overwrites.
        tokenizer = AutoTokenizer.from_pretrained(run_dir / BASE)
        model = with_lora(AutoModelForCausalLM.from_pretrained(a.base_model, dtype=torch.float32), a)
    elif resume:
        # Same tokenizer and architecture as the run's start; the weights come from the checkpoint.
        tokenizer = AutoTokenizer.from_pretrained(run_dir / BASE)
        model = AutoModelForCausalLM.from_config(GPT2Config.from_pretrained(run_dir / BASE))
    else:
        tokenizer, model = build_fresh(a, train_texts)
        tokenizer.save_pretrained(run_dir / BASE)
        model.config.save_pretrained(run_dir / BASE)
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    train_ids = [encode_song(tokenizer, s, a.line_plans) for s in train_songs]
    val_ids = [encode_song(tokenizer, s, a.line_plans) for s in val_songs]
    # A held-out set shorter than one chunk is one shorter chunk (a small corpus still trains).
    val_tokens = 1 + sum(map(len, val_ids))
    val_chunks = (make_chunks(val_ids, list(range(len(val_ids))), eos, min(a.context, val_tokens - 1))
                  if val_ids else None)

    model.generation_config = generation_config(tokenizer, a.top_k, a.temperature, a.no_repeat_ngram_size,
                                                max_new_tokens=a.max_new_tokens,
                                                rhyme_min_probability=a.rhyme_min_probability,
                                                max_lines=a.max_lines, line_plans=a.line_plans,
                                                max_word_run=a.max_word_run, max_pair_repeats=a.max_pair_repeats)
    model.to(a.device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]  # the adapter alone under LoRA
    decay = [p for p in trainable if p.dim() >= 2]  # matrices; not biases and LayerNorms
    no_decay = [p for p in trainable if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=a.lr, betas=(0.9, 0.95), fused=a.device.startswith("cuda"))
    weights = group_weights(train_songs, a.weight_power if a.weight_column else 1.0)
    step, best_val, last_loss, seconds_before = 0, None, float("nan"), 0.0
    if resume:
        state = torch.load(ckpt_path, map_location=a.device, weights_only=False)
        model.load_state_dict(state["model"], strict=not a.lora_rank)
        optimizer.load_state_dict(state["optimizer"])
        step, best_val = state["step"], state["val_loss"]
        last_loss, seconds_before = state.get("train_loss", float("nan")), state.get("seconds", 0.0)
        batches = Batches(train_ids, weights, eos, a, state["epoch"], state["index"])
        set_rng_state(state["rng"])
        print(f"resumed {ckpt_path} at step {step}", file=sys.stderr)
    else:
        batches = Batches(train_ids, weights, eos, a)
    print(f"{len(train_songs)} training songs, {len(val_songs)} validation; "
          f"{len(batches.chunks)} chunks of {a.context} tokens per epoch; "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
          f"{sum(p.numel() for p in trainable) / 1e6:.2f}M trained", file=sys.stderr)

    cuda = a.device.startswith("cuda")
    bf16 = cuda or a.autocast_bf16
    autocast = lambda: torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=bf16)  # noqa: E731
    tokens_per_step = a.batch_size * a.grad_accum * a.context
    bar = tqdm(total=a.steps, initial=step, disable=a.quiet, dynamic_ncols=True)
    t0, t_step0 = time.time(), step
    val_loss = None
    last_step = min(a.steps, a.stop_at) if a.stop_at else a.steps
    while step < last_step:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, a)
        loss_sum = 0.0
        for _ in range(a.grad_accum):
            batch = batches.next().to(a.device)
            with autocast():
                loss = loss_of(model, batch) / a.grad_accum
            loss.backward()
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last_loss = loss_sum
        tok_s = (step - t_step0) * tokens_per_step / max(1e-9, time.time() - t0)
        bar.set_postfix(loss=f"{last_loss:.3f}", tok_s=f"{tok_s:,.0f}", epoch=batches.epoch)
        bar.update(1)
        if val_chunks is not None and (step % a.eval_every == 0 or step == a.steps):
            val_loss = evaluate(model, val_chunks, a, autocast)
            best_val = val_loss if best_val is None else min(best_val, val_loss)
            bar.write(f"step {step}: train loss {last_loss:.3f}, validation loss {val_loss:.3f}")
        if a.sample_every and step % a.sample_every == 0:
            for text in sample_songs(model, tokenizer, 2, a.device):
                bar.write(text + "\n")
        if step % a.save_every == 0 or step == last_step:
            save_checkpoint(run_dir / CHECKPOINT, model, optimizer, step, batches, best_val, last_loss,
                            seconds_before + time.time() - t0)
    bar.close()
    if step < a.steps:
        print(f"stopped at step {step}; continue with --checkpoint latest", file=sys.stderr)
        return {"steps": step, "stopped": True}

    if val_loss is None and val_chunks is not None:
        val_loss = evaluate(model, val_chunks, a, autocast)  # a finished run, written out again
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if a.lora_rank:
        write_adapter_extras(out, model, a.base_model)
    report = {"steps": step, "train_loss": last_loss, "validation_loss": val_loss,
              "tokens_per_step": tokens_per_step, "train_songs": len(train_songs),
              "validation_songs": len(val_songs),
              # Over every session of the run; a rewrite of a finished run adds nothing.
              "training_seconds": round(seconds_before + (time.time() - t0 if step > t_step0 else 0.0), 1),
              "corpus": corpus_fingerprint(a.data, a.include),
              "args": {k: v for k, v in vars(a).items() if k not in ("quiet",)}}
    # Beside the weights: how this release was made (read by bench/model_quality.py).
    (out / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out} (validation loss {val_loss})", file=sys.stderr)
    return report


def write_adapter_extras(out: Path, model, base_model: str) -> None:
    """peft writes adapter_model.safetensors and adapter_config.json; name the
    base by its directory name (not this machine's path; the generator looks it
    up under its base-model folder) and keep the sampling settings beside it."""
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = Path(base_model).name
    # peft keeps target_modules as a set: sort it, so the same adapter writes the
    # same bytes (the file is part of the release id).
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    model.generation_config.save_pretrained(out)
    # peft's model card is a template to fill in by hand; say what this is instead.
    source = Path(base_model) / "SOURCE.json"
    base = json.loads(source.read_text()) if source.exists() else {}
    (out / "README.md").write_text(
        f"# {out.name}\n\nA LoRA adapter (peft, rank {config.get('r')}, every linear layer) for song lyrics, "
        f"trained by `python -m training.train` (arguments in training.json) on public-domain songs.\n\n"
        f"Base: `{Path(base_model).name}`"
        + (f", {base.get('base_model')} ({base.get('licence')}), from {base.get('source')}; "
           f"{base.get('weights')}" if base else "") + ".\n"
        "The generator merges it into its base at load (GENERATOR_BASE_MODELS_DIR).\n")


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    try:
        train(a)
    except CorpusError as e:
        raise fail("python -m training.train", str(e)) from None


if __name__ == "__main__":
    main()
