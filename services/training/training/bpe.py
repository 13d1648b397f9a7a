"""A byte-level BPE tokenizer trained on the corpus (GPT-2's scheme), holding
the song format's special tokens, wrapped so transformers' AutoTokenizer loads
its save_pretrained directory as is."""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from generator.songformat import END_OF_TEXT, LYRICS_MARKER, TITLE_MARKER


def train_bpe(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    # Byte-level: every string is encodable (no unknown token), newlines included.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        # Fixed ids 0, 1, 2 for the format's tokens, the same in every tokenizer we train.
        special_tokens=[END_OF_TEXT, TITLE_MARKER, LYRICS_MARKER],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap(tok)


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        additional_special_tokens=[TITLE_MARKER, LYRICS_MARKER],
        model_max_length=1024,
    )


def add_song_tokens(tokenizer) -> int:
    """Give a pretrained GPT-2 tokenizer the format's markers (GPT-2 already
    has END_OF_TEXT); returns how many tokens were added."""
    added = tokenizer.add_special_tokens({"additional_special_tokens": [TITLE_MARKER, LYRICS_MARKER]})
    if tokenizer.eos_token is None:
        added += tokenizer.add_special_tokens({"eos_token": END_OF_TEXT})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return added
