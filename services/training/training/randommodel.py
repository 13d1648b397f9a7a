"""A small random-initialised GPT-2 with a byte-level BPE tokenizer, saved with
save_pretrained: the stand-in when the bundled model is missing (`make run`
says so plainly), and the model of the tests and the bench. Its text is noise.

    python -m training.randommodel DIR [--n-layer N --n-head N --n-embd N --end-bias X]
"""
from __future__ import annotations

import sys
from pathlib import Path

from billionsongs.common import cli
from generator.songformat import END_OF_TEXT, LYRICS_MARKER, TITLE_MARKER

_CORPUS = """\
I walked along the river in the morning light
and every song I ever knew came back to me tonight
hold on, hold on, the road is long and the night is cold
we were young and we were restless, we were never told
la la la, the radio is playing our old song
dancing in the kitchen till the break of dawn
my heart is a drum and it beats for you
under the neon, under the rain, under the blue
"""


def build_tokenizer(vocab_size: int, markers: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [END_OF_TEXT] + ([TITLE_MARKER, LYRICS_MARKER] if markers else [])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS.splitlines() * 4, trainer)
    return tok


def _token_biases(tok, biases: dict[str, float] | None) -> list[tuple[int, float]]:
    """(token id, bias) for each text of ``biases``, which must be one token."""
    out = []
    for text, bias in (biases or {}).items():
        ids = tok.encode(text, add_special_tokens=False).ids
        if len(ids) != 1:
            raise ValueError(f"{text!r} is not one token of the tokenizer")
        out.append((ids[0], bias))
    return out


def make_random_model(out_dir: str | Path, *, n_layer: int = 2, n_head: int = 2, n_embd: int = 64,
                      n_positions: int = 1024, vocab_size: int = 512, markers: bool = True,
                      end_bias: float | None = None, model_vocab_size: int | None = None,
                      seed: int = 0, biases: dict[str, float] | None = None) -> Path:
    """Write config.json, model.safetensors and tokenizer files to ``out_dir``.

    ``end_bias`` lifts the end-of-text logit so songs end after some tens of
    tokens (random weights alone almost never end one); None leaves it random.
    ``biases`` (with ``end_bias``) lifts other tokens' logits the same way, by
    token text: {"\n": 2.0, LYRICS_MARKER: 3.0} writes lines and lyrics.
    ``model_vocab_size`` pads the model's vocabulary past the tokenizer's (the
    bench's GPT-2 124M shape; ids past the tokenizer are never decoded there).
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    tok = build_tokenizer(vocab_size, markers)
    config = GPT2Config(vocab_size=max(tok.get_vocab_size(), model_vocab_size or 0), n_positions=n_positions,
                        n_embd=n_embd, n_layer=n_layer, n_head=n_head, bos_token_id=tok.token_to_id(END_OF_TEXT),
                        eos_token_id=tok.token_to_id(END_OF_TEXT))
    torch.manual_seed(seed)  # only model creation; generation never touches the global RNG
    model = GPT2LMHeadModel(config).eval()
    if end_bias is not None:
        eot = tok.token_to_id(END_OF_TEXT)
        with torch.no_grad():
            # A constant 1.0 in hidden dim 0 after ln_f, weighted only in the
            # end-of-text row, adds end_bias to that logit at every step.
            model.transformer.ln_f.weight[0] = 0.0
            model.transformer.ln_f.bias[0] = 1.0
            model.transformer.wte.weight[:, 0] = 0.0
            model.transformer.wte.weight[eot, 0] = end_bias
            for token, bias in _token_biases(tok, biases):
                model.transformer.wte.weight[token, 0] = bias
    model.save_pretrained(out_dir)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=END_OF_TEXT, bos_token=END_OF_TEXT,
                            model_max_length=n_positions).save_pretrained(out_dir)
    return out_dir


def make_random_llama(out_dir: str | Path, *, n_layer: int = 2, n_head: int = 4, n_kv_head: int = 2,
                      hidden: int = 64, intermediate: int = 128, n_positions: int = 1024,
                      vocab_size: int = 512, tie_word_embeddings: bool = True, end_bias: float | None = None,
                      model_vocab_size: int | None = None, seed: int = 0,
                      biases: dict[str, float] | None = None) -> Path:
    """A small random Llama-family model (RMSNorm, rotary embeddings, SwiGLU,
    grouped-query attention) with the same tokenizer as make_random_model.

    ``end_bias`` (untied models only) lifts the end-of-text logit by about that
    much: residual dimension 0 is 1 for every token and no layer writes it, so
    after the final RMSNorm it is a near-constant that only the end-of-text
    row of the output head weighs; ``biases`` as make_random_model's."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if end_bias is not None and tie_word_embeddings:
        raise ValueError("end_bias needs an untied output head")
    out_dir = Path(out_dir)
    tok = build_tokenizer(vocab_size, markers=True)
    eot = tok.token_to_id(END_OF_TEXT)
    config = LlamaConfig(vocab_size=max(tok.get_vocab_size(), model_vocab_size or 0), hidden_size=hidden,
                         intermediate_size=intermediate, num_hidden_layers=n_layer, num_attention_heads=n_head,
                         num_key_value_heads=n_kv_head, max_position_embeddings=n_positions,
                         tie_word_embeddings=tie_word_embeddings, bos_token_id=eot, eos_token_id=eot,
                         pad_token_id=eot, rms_norm_eps=1e-5)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        # Random init leaves RMSNorm weights at 1; vary them so tests see them used.
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
        if end_bias is not None:
            model.model.embed_tokens.weight[:, 0] = 1.0
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight[0, :] = 0.0
                layer.mlp.down_proj.weight[0, :] = 0.0
            model.model.norm.weight[0] = 1.0
            rms = (1.0 / hidden + config.initializer_range ** 2) ** 0.5  # of the untouched residual
            model.lm_head.weight[:, 0] = 0.0
            model.lm_head.weight[eot, 0] = end_bias * rms
            for token, bias in _token_biases(tok, biases):
                model.lm_head.weight[token, 0] = bias * rms
    model.save_pretrained(out_dir)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=END_OF_TEXT, bos_token=END_OF_TEXT,
                            model_max_length=n_positions).save_pretrained(out_dir)
    return out_dir


PROG = "python -m training.randommodel"


def main(argv: list[str] | None = None) -> int:
    """Write a random GPT-2 to DIR; a bad argument or an unwritable DIR is one line, exit 2."""
    parser = cli.Parser(prog=PROG, description="Write a small random GPT-2 and tokenizer to DIR "
                        "(its songs are noise; for tests and make run).")
    parser.add_argument("dir", metavar="DIR")
    parser.add_argument("--n-layer", type=cli.int_at_least(1, 64), default=2)
    parser.add_argument("--n-head", type=cli.int_at_least(1, 64), default=4)
    parser.add_argument("--n-embd", type=cli.int_at_least(1, 4096), default=128)
    parser.add_argument("--end-bias", type=cli.float_above(-1e6), default=0.5,
                        help="lift the end-of-text logit so random songs end (default 0.5)")
    args = parser.parse_args(argv)
    if args.n_embd % args.n_head:
        raise cli.fail(PROG, f"argument --n-embd: {args.n_embd} is not a multiple of --n-head {args.n_head}")
    try:
        path = make_random_model(args.dir, n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                                 end_bias=args.end_bias)
    except OSError as e:
        raise cli.fail(PROG, f"argument DIR: {args.dir}: {e.strerror or e}") from None
    print(f"random GPT-2 written to {path} (its songs are noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
