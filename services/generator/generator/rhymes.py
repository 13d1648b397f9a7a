"""Rhyme-scheme decoding: the song logic that makes lines rhyme, one song per id still.

A song's rhyme scheme (AABB, ABAB, ...) is a pure function of its id and the
release's schemes (``scheme_for``). Each stanza repeats it every
``len(scheme)`` lines; a line whose letter appeared earlier in the same group
must rhyme with that earlier line (its anchor). Rhyming follows the CMU
pronouncing dictionary through `pronouncing`: two different words rhyme when
they share a rhyming part (the last stressed vowel and all after it); a word
the dictionary does not know rhymes with nothing.

``SongRules`` follows one row of the engine token by token. When a line that
must rhyme ends (a newline, or the end of the song) without rhyming, the row
is rewound (its position set back: the fixed-shape step and the static KV
cache overwrite what follows) to the start of the line's last word, and:

- ``attempts`` times it writes on freely from there, with noise from the next
  attempt (the attempt number is one more input of the counter-based noise);
- then, if none of those lines rhymes, it writes the word once more from the
  vocabulary's single-token words that rhyme with the anchor (a mask, so the
  model's own probabilities, top-k and temperature choose among them), then at
  most one punctuation mark and the line's end. That line rhymes by
  construction; when no token of the vocabulary rhymes with the anchor, or the
  last word is the line's first, the line written first is kept.

Measured with bench/model_quality.py and bench/bench_generator.py
(docs/model.md): a small model's free rewrites end on a rhyme only a few times
in a hundred, so the default is no free attempt and the masked word at once.

Every decision reads only the row's own tokens, and the masks are per row, so
a song stays byte-identical whatever batch it runs in. A line that may still
be rewritten is held back from the stream until it is accepted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pronouncing

from generator.songformat import (
    END_OF_TEXT,
    LYRICS_MARKER,
    PLAN_CLOSE,
    PLAN_OPEN,
    end_word,
    line_words,
)

if TYPE_CHECKING:  # the server process reads the schemes and never imports torch
    import torch
    from tokenizers import Tokenizer

# The schemes of popular verse: couplets, alternate rhyme, the ballad stanza, a monorhyme.
DEFAULT_SCHEMES = ("AABB", "ABAB", "ABCB", "AAAA")
# How far back a line may be cut to end on a rhyme, in words (SongRules._best_word_start).
# Measured (bench/model_quality.py, ids 1-100): choosing among the last three
# words, lines shrank to 5.3 words against 8.1 without rhymes, and some songs
# collapsed into one-word lines the model then imitated; so only the last word.
REWIND_WORDS = 1
# A title longer than this many tokens is closed with the lyrics marker
# (real titles of the corpus are a few words; a title the model never closes
# runs into what should be the lyrics).
TITLE_MAX_TOKENS = 24
# Rewrites of a first lyric line that only repeats the title (with the next
# attempts' noise), so that a song's title is its own.
TITLE_REPEAT_REWRITES = 2
# A line this long (about 24 words; real lines average 6) is prose, not verse:
# it ends at its next word's end, and LINE_HARD_TOKENS tokens at the latest.
LINE_MAX_TOKENS = 32
LINE_HARD_TOKENS = 40
# A song ends after the first line that leaves fewer tokens than this of its
# limit, rather than being cut mid-line at the limit (a failed song).
END_RESERVE = 64
# Punctuation that may close a rewritten line before its newline.
LINE_END_PUNCTUATION = (",", ".", "!", "?", ";", ":")
# A free line plan (no rhyme needed) is one word of at most this many tokens.
PLAN_MAX_TOKENS = 6
# Rewrites of a rhyming line that ended on another word than its plan, with
# the next attempts' noise, before the line is kept as written (docs/model.md#line-plans).
PLAN_REWRITES = 2

_TOKEN_WORD = re.compile(r" ([a-z]+)")  # a whole lower-case word with its leading space
_WORD_START = re.compile(r" [A-Za-z]")


def read_words(path: str | Path) -> frozenset[str]:
    """A word list, one word per line (Debian's wamerican: /usr/share/dict/words),
    as the set of its lower-case words of two letters or more (names,
    capitalised there, stay out; so do the single letters it lists, which had
    ended one rewritten line in a hundred: "And I'm on the n.")."""
    text = Path(path).read_text(encoding="utf-8")
    return frozenset(w for w in text.split() if w.isalpha() and w.islower() and len(w) > 1)


def valid_scheme(scheme: str) -> bool:
    """1 to 8 capital letters, e.g. "ABCB"."""
    return 1 <= len(scheme) <= 8 and all("A" <= c <= "Z" for c in scheme)


def _mix64(x: int) -> int:
    # splitmix64's finaliser (sampling.mix64 on Python ints).
    mask = (1 << 64) - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


def scheme_for(song_id: int, schemes: tuple[str, ...]) -> str:
    """The song's rhyme scheme: one of ``schemes``, by a hash of the id alone."""
    return schemes[_mix64((song_id + 0x52484D45) & ((1 << 64) - 1)) % len(schemes)]


@lru_cache(maxsize=65536)
def rhyming_parts(word: str) -> frozenset[str]:
    """The rhyming parts of every CMU pronunciation of ``word`` (lower case);
    empty for a word the dictionary does not know."""
    return frozenset(pronouncing.rhyming_part(p) for p in pronouncing.phones_for_word(word))


def rhymes(a: str | None, b: str | None) -> bool:
    """Two different words sharing a rhyming part ("night", "light"); never a
    word with itself, nor a word the dictionary does not know."""
    if not a or not b or a == b:
        return False
    return bool(rhyming_parts(a) & rhyming_parts(b))


def _plain(line: str) -> str:
    """A line or title for comparing: lower case, without surrounding space
    and trailing punctuation ("In the morning light," -> "in the morning light")."""
    return line.strip().rstrip(",;:.!?—-").strip().lower()


def anchor_line(index: int, scheme: str) -> int | None:
    """Which earlier line of the stanza line ``index`` must rhyme with: the
    first line of its group (``len(scheme)`` lines) with the same letter."""
    group, at = divmod(index, len(scheme))
    first = scheme.index(scheme[at])
    return group * len(scheme) + first if first < at else None


class RhymeTable:
    """What the rhyme rules need of a tokenizer, computed once per model.

    ``word_mask(anchor)``: (V,) bool on ``device``, the tokens that are a whole
    lower-case word (with its leading space) rhyming with ``anchor``, or None
    when there is none. ``line_end`` and ``line_end_after_mark``: the tokens
    that may follow a rewritten line's last word.
    """

    def __init__(self, tokenizer: Tokenizer, eot_id: int, vocab: int, device: str | torch.device = "cpu",
                 words: frozenset[str] | None = None, plans: bool = False):
        """``vocab``: the model's output rows (its logits' width), at least the
        tokenizer's; ``words``: the only words a rewrite or a rhyming line plan
        may choose (lower case; None: any the pronouncing dictionary knows,
        which holds names and abbreviations like "gro" and "adhd");
        ``plans``: the model writes line plans (songformat.plan_lines).

        Raises ValueError with ``plans`` for a tokenizer without the plan's
        braces as single tokens."""
        self.vocab = vocab
        self.words = words
        self.device = device
        self.eot_id = eot_id
        self.tokenizer = tokenizer
        known = min(vocab, tokenizer.get_vocab_size())
        self.text = [tokenizer.decode([i], skip_special_tokens=False) for i in range(known)]
        self.text += [""] * (vocab - known)
        self.newline = frozenset(i for i, t in enumerate(self.text) if "\n" in t)
        self.by_part: dict[str, list[tuple[int, str]]] = {}
        for i, t in enumerate(self.text):
            m = _TOKEN_WORD.fullmatch(t)
            if m and (words is None or m.group(1) in words):
                for part in rhyming_parts(m.group(1)):
                    self.by_part.setdefault(part, []).append((i, m.group(1)))
        newlines = [i for i, t in enumerate(self.text) if t and set(t) == {"\n"}]
        marks = [i for i, t in enumerate(self.text) if t in LINE_END_PUNCTUATION]
        self.marks = frozenset(marks)
        self.line_end = self._mask(newlines + marks + [eot_id])
        self.line_end_after_mark = self._mask(newlines + [eot_id])
        self.end_only = self._mask([eot_id])
        # A line too long ends once its word is whole: a line end, or a piece
        # that goes on with the word (no leading space).
        pieces = [i for i, t in enumerate(self.text) if t[:1].isalpha()]
        self.line_end_or_piece = self.line_end | self._mask(pieces)
        # The lyrics marker as this tokenizer writes it (one token where the
        # markers are added tokens, several pieces of plain text otherwise).
        self.marker = tuple(tokenizer.encode(LYRICS_MARKER, add_special_tokens=False).ids)
        self.marker_next = [self._mask([m]) for m in self.marker]
        # A title is one line ended by the lyrics marker: while it is written, no
        # token with a newline, and none with the marker's characters but the
        # marker's first piece; once that is written, the rest of the marker
        # follows (SongRules), so a title never ends in a near-marker ("</|lyrics|>").
        odd = [i for i, t in enumerate(self.text) if any(c in t for c in "<|>")]
        self.in_title = ~self._mask(sorted(self.newline) + odd) | self.marker_next[0]
        self.title_start = self.in_title & ~self.marker_next[0]  # no empty title
        self._word_masks: dict[str, torch.Tensor | None] = {}
        self.everything = self._mask(range(vocab))
        # Stuttering (Stutter): tokens that start a word, by their lower-case letters.
        self.word_pieces: dict[str, list[int]] = {}   # " me" -> "me": opens a word
        self.bare_pieces: dict[str, list[int]] = {}   # "me": opens one after a non-letter
        for i, t in enumerate(self.text):
            if re.fullmatch(r" [A-Za-z]+", t):
                self.word_pieces.setdefault(t[1:].lower(), []).append(i)
            elif re.fullmatch(r"[A-Za-z]+", t):
                self.bare_pieces.setdefault(t.lower(), []).append(i)
        self.plans = plans
        if plans:
            self._init_plans(tokenizer)

    def _init_plans(self, tokenizer: Tokenizer) -> None:
        """Masks and the rhyme word index of line plans (``{ word} line``)."""
        self.plan_open, self.plan_close = tokenizer.token_to_id(PLAN_OPEN), tokenizer.token_to_id(PLAN_CLOSE)
        if self.plan_open is None or self.plan_close is None:
            raise ValueError(f"line plans need {PLAN_OPEN!r} and {PLAN_CLOSE!r} as tokens of the tokenizer")
        newlines = [i for i, t in enumerate(self.text) if t and set(t) == {"\n"}]
        # A line opens with its plan; a blank line or the song's end may come instead.
        self.line_start = self._mask(newlines + [self.plan_open, self.eot_id])
        # A free plan: one lower-case word, its first piece with the leading space.
        self.plan_first = self._mask([i for i, t in enumerate(self.text) if re.fullmatch(r" [a-z]+", t)]
                                     + [self.plan_close])
        self.plan_next = self._mask([i for i, t in enumerate(self.text) if re.fullmatch(r"[a-z]+|'[a-z]*", t)]
                                    + [self.plan_close])
        self.plan_close_only = self._mask([self.plan_close])
        # Braces are the plan's alone: never in a line or a title; and a line
        # holds no marker's characters either (the corpus has none of "{}<|>").
        braces = self._mask([i for i, t in enumerate(self.text) if PLAN_OPEN in t or PLAN_CLOSE in t])
        odd = self._mask([i for i, t in enumerate(self.text) if any(c in t for c in "<|>")])
        self.in_line = (~braces & ~odd) | self.end_only
        # A plan is never the whole line: the line's first token after it is no line end.
        self.line_opening = self.in_line & ~self._mask(sorted(self.newline) + [self.eot_id])
        self.in_title = self.in_title & ~braces
        self.title_start = self.title_start & ~braces
        self._plan_tries: dict[str, tuple[dict, frozenset] | None] = {}
        self._encodings: dict[str, tuple[int, ...]] = {}
        self._words_by_part: dict[str, list[str]] | None = None

    def _rhyme_words(self, anchor: str) -> list[str]:
        """The words of ``words`` (or of the pronouncing dictionary) rhyming with ``anchor``."""
        if self._words_by_part is None:
            if self.words is None:
                pronouncing.init_cmu()
                vocabulary = {w for w, _ in pronouncing.pronunciations if w.isalpha()}
            else:
                vocabulary = self.words
            index: dict[str, list[str]] = {}
            for w in sorted(vocabulary):
                for part in rhyming_parts(w):
                    index.setdefault(part, []).append(w)
            self._words_by_part = index
        found = {w for part in rhyming_parts(anchor) for w in self._words_by_part.get(part, ()) if w != anchor}
        return sorted(found)

    def plan_trie(self, anchor: str) -> tuple[dict, frozenset] | None:
        """The plans a line rhyming with ``anchor`` may write: every rhyming word
        as the tokenizer writes it after the plan's brace (" word"), as a trie of
        token-id prefixes: (prefix -> next token ids, the prefixes that are a
        whole word). None when no word rhymes with it."""
        if anchor not in self._plan_tries:
            words = self._rhyme_words(anchor)
            children: dict[tuple[int, ...], set[int]] = {}
            whole = set()
            new = [w for w in words if w not in self._encodings]
            for w, enc in zip(new, self.tokenizer.encode_batch([" " + w for w in new], add_special_tokens=False)):
                self._encodings[w] = tuple(enc.ids)
            for w in words:
                ids = self._encodings[w]
                if not ids or max(ids) >= self.vocab:
                    continue
                for k in range(len(ids)):
                    children.setdefault(ids[:k], set()).add(ids[k])
                whole.add(ids)
            self._plan_tries[anchor] = ({k: frozenset(v) for k, v in children.items()}, frozenset(whole)) \
                if whole else None
        return self._plan_tries[anchor]

    def plan_mask(self, anchor: str, written: tuple[int, ...]) -> torch.Tensor:
        """(V,) bool: the tokens a plan rhyming with ``anchor`` may write after
        its tokens ``written`` (the plan's close once they are a whole word)."""
        children, whole = self.plan_trie(anchor)
        ids = sorted(children.get(written, ())) + ([self.plan_close] if written in whole else [])
        return self._mask(ids)

    def _mask(self, ids) -> torch.Tensor:
        import torch
        mask = torch.zeros(self.vocab, dtype=torch.bool)
        mask[list(ids)] = True
        return mask.to(self.device)

    def word_mask(self, anchor: str) -> torch.Tensor | None:
        if anchor not in self._word_masks:
            ids = {i for part in rhyming_parts(anchor) for i, word in self.by_part.get(part, ()) if word != anchor}
            self._word_masks[anchor] = self._mask(sorted(ids)) if ids else None
        return self._word_masks[anchor]

    def has_letters(self, token: int) -> bool:
        return any(c.isalpha() for c in self.text[token])

    def decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)


class Stutter:
    """No word more than ``max_run`` times running, and no word pair more than
    ``max_pairs`` times, within one lyric line (0: that half off): the lines a
    small model stutters ("But me, me, me, me, me, me."). Reads only the line
    so far, so it is a pure function of the row's own tokens."""

    def __init__(self, table: RhymeTable, max_run: int = 0, max_pairs: int = 0):
        self.table, self.max_run, self.max_pairs = table, max_run, max_pairs

    def banned_words(self, line: str) -> set[str]:
        """The words that may not come next after ``line`` (the line's text so far)."""
        words = line_words(line)
        ban = set()
        if self.max_run and len(words) >= self.max_run and len(set(words[-self.max_run:])) == 1:
            ban.add(words[-1])
        if self.max_pairs and len(words) >= 2:
            pairs: dict[tuple[str, str], int] = {}
            for pair in zip(words, words[1:]):
                pairs[pair] = pairs.get(pair, 0) + 1
            ban |= {b for (a, b), n in pairs.items() if a == words[-1] and n >= self.max_pairs}
        return ban

    def allowed(self, line: str, mask: torch.Tensor | None) -> torch.Tensor | None:
        """``mask`` (None: every token) less the tokens that would start a
        banned word: every piece of the tokenizer that is a prefix of it
        (" me", " m"), and after a non-letter, the same pieces without their space."""
        ban = self.banned_words(line) if (self.max_run or self.max_pairs) else ()
        if not ban:
            return mask
        table = self.table
        bare = bool(line) and not line[-1].isalpha() and line[-1] not in "' "
        ids = set()
        for word in ban:
            for k in range(1, len(word) + 1):
                ids.update(table.word_pieces.get(word[:k], ()))
                if bare:
                    ids.update(table.bare_pieces.get(word[:k], ()))
        banned = table._mask(sorted(ids))
        return (table.everything if mask is None else mask) & ~banned


@dataclass
class Decision:
    """What the engine does with a row after a token: ``final`` tokens of the
    row's song can no longer change (emit them); ``rewind_to``: truncate the
    song to this many tokens and sample again from there, with noise of
    ``attempt``; ``mask``: the tokens allowed at the next sample (None: all);
    ``watch``: the rhyming words whose probability the next sample should
    report (``SongRules.feed``'s ``rhyme_probability``)."""
    final: int
    rewind_to: int | None = None
    attempt: int = 0
    mask: torch.Tensor | None = None
    watch: torch.Tensor | None = None


class SongRules:
    """The rules one song follows in one engine row, token by token.

    - Its title is one line of at most ``TITLE_MAX_TOKENS`` tokens, ended by
      the lyrics marker (no newline, no near-marker), and its first lyric line
      does not merely repeat it (rewritten up to ``TITLE_REPEAT_REWRITES``
      times, held back until accepted).
    - A line of LINE_MAX_TOKENS tokens ends once its last word is whole
      (LINE_HARD_TOKENS at the latest): songs are verse, not prose.
    - With a ``scheme``, its lines rhyme (module docstring).
    - With ``max_lines``, a song that has that many lines ends (end-of-text
      forced) after the next line that closes a group of its scheme (any line
      without one); and any song ends after the first line that leaves fewer
      than ``END_RESERVE`` of its ``max_tokens``, so it is not cut mid-line.

    ``titled``: the song opens with a title and its lyrics start after the
    lyrics marker; ``prefix``: the prompt's text after END_OF_TEXT."""

    def __init__(self, table: RhymeTable, scheme: str | None, attempts: int, titled: bool, prefix: str = "",
                 min_probability: float = 0.0, max_lines: int = 0, max_tokens: int = 0, *,
                 stutter: tuple[int, int] = (0, 0)):
        """``stutter``: (max_run, max_pairs) of the Stutter rule ((0, 0): off).
        With a table of ``plans``, every lyric line opens with its plan, and a
        line that must rhyme plans a rhyming word (module docstring)."""
        self.table, self.scheme, self.attempts = table, scheme, attempts
        self.stutter = Stutter(table, *stutter)
        self.plans = table.plans
        self.plan: list[int] = []                            # the line plan's tokens so far
        self.plan_word: str | None = None                    # the current line's planned end word
        self.body_start: int | None = None                   # index of the line's first token after its plan
        self.prefix, self.min_probability = prefix, min_probability
        self.max_lines, self.max_tokens = max_lines, max_tokens
        self.chances: dict[int, float] = {}                  # token index -> P(a rhyming word there)
        self.line_start: int | None = None if titled else 0  # index of the current line's first token
        self.marker_at = 0                                   # lyrics-marker tokens written so far
        self.title: str | None = None                        # the title, for comparing (titled songs)
        self.lines = 0                                       # accepted lyric lines with words
        self.stanza: list[str | None] = []                   # end words of the stanza's accepted lines
        self.anchor: str | None = None                       # the current line must rhyme with it
        self.attempt = 0                                     # rewrites of the current line so far
        # Without plans: "free", "word", "end", "end-after-mark"; with plans: "start", "plan", "body".
        self.mode = "start" if self.plans else "free"
        self.final = 0
        self.rewinds = 0                                     # over the whole song, for tests and stats

    @property
    def first_mask(self) -> torch.Tensor | None:
        """The tokens allowed at the song's first sample."""
        if self.line_start is None:
            return self.table.title_start
        return self.table.line_start if self.plans else None

    def feed(self, tokens: list[int], rhyme_probability: float = 0.0) -> Decision:
        """The row's song after one more token (``tokens[-1]``);
        ``rhyme_probability``: how likely the model found a word of the last
        Decision's ``watch`` at that sample (softmax at the sampling temperature)."""
        token, j = tokens[-1], len(tokens) - 1
        table = self.table
        if self.plans and self.line_start is not None:
            return self._feed_planned(tokens, j)
        if self.anchor is not None and self.mode == "free":
            self.chances[j] = rhyme_probability
        if self.mode == "word":
            self.mode = "end"
            return Decision(self.final, attempt=self.attempt, mask=table.line_end)
        if self.mode == "end" and token in table.marks:
            self.mode = "end-after-mark"
            return Decision(self.final, attempt=self.attempt, mask=table.line_end_after_mark)
        if self.line_start is None:
            return self._title(tokens, j)
        if self.anchor is None and not self._checking_title_repeat:
            self.final = len(tokens)
        ended = token == table.eot_id
        if not ended and token not in table.newline:
            mask = self._long_line(j, token)
            if self.mode == "free" and (self.stutter.max_run or self.stutter.max_pairs):
                mask = self.stutter.allowed(table.decode(tokens[self.line_start:j + 1]), mask)
            return Decision(self.final, attempt=self.attempt, watch=self._watch(), mask=mask)
        line = table.decode(tokens[self.line_start:j + 1]).replace(END_OF_TEXT, "")
        text, _, rest = line.partition("\n")
        if self._checking_title_repeat and text.strip() and self.attempt < TITLE_REPEAT_REWRITES \
                and _plain(text) == self.title:
            self.attempt += 1
            self.rewinds += 1
            return Decision(self.final, rewind_to=self.line_start, attempt=self.attempt)
        word = end_word(text)
        if self.scheme is not None and self.mode == "free" and self.anchor is not None and text.strip() \
                and not rhymes(word, self.anchor):
            start = self._last_word_start(tokens, j)
            if start is not None and self.attempt < self.attempts:
                self.attempt += 1
                self.rewinds += 1
                self._forget(start)
                return Decision(self.final, rewind_to=start, attempt=self.attempt, watch=self._watch())
            start = self._best_word_start(tokens, j)
            if start is not None:
                self.attempt, self.mode = self.attempts + 1, "word"
                self.rewinds += 1
                return Decision(self.final, rewind_to=start, attempt=self.attempt,
                                mask=table.word_mask(self.anchor))
        # The line is accepted: the stream may show it.
        return self._accept(tokens, j, text, word, closes=not text.strip() or "\n" in rest, ended=ended)

    def _accept(self, tokens: list[int], j: int, text: str, word: str | None, closes: bool,
                ended: bool) -> Decision:
        """The line ending at token ``j`` is kept (``text``, its end ``word``);
        ``closes``: a blank line follows, closing the stanza. Sets up the next line."""
        table = self.table
        if text.strip():
            self.stanza.append(word)
            self.lines += 1
        if closes or ended:
            self.stanza = []  # a blank line (or the song's end) closes the stanza
        self.line_start, self.attempt, self.mode = j + 1, 0, "start" if self.plans else "free"
        self.body_start, self.plan, self.plan_word = None, [], None
        self.chances = {}
        self.anchor = None
        if self.scheme is not None:
            at = anchor_line(len(self.stanza), self.scheme)
            self.anchor = self.stanza[at] if at is not None else None
        if self.anchor is not None and (table.plan_trie(self.anchor) is None if self.plans
                                        else table.word_mask(self.anchor) is None):
            self.anchor = None  # no word of the vocabulary rhymes with it (or the dictionary lacks it)
        self.final = len(tokens)
        if not ended and self._should_end(len(tokens)):
            self.anchor = None
            return Decision(self.final, mask=table.end_only)
        return Decision(self.final, watch=None if self.plans else self._watch(),
                        mask=table.line_start if self.plans else None)

    def _feed_planned(self, tokens: list[int], j: int) -> Decision:
        """``feed`` for a model that writes line plans: each lyric line is
        ``{ word} text``; a line that must rhyme plans a word rhyming with its
        anchor (RhymeTable.plan_trie: the model's own probabilities choose
        among whole rhyming words), and is written again (PLAN_REWRITES times
        at most, the noise of the next attempt) when it ends on a word that
        neither is its plan nor rhymes with the anchor; then it is kept."""
        table, token = self.table, tokens[j]
        held = self.anchor is not None or self._checking_title_repeat  # the line may still be rewritten
        if self.mode == "start":
            if token == table.plan_open:
                self.mode, self.plan = "plan", []
                if not held:
                    self.final = len(tokens)
                mask = table.plan_mask(self.anchor, ()) if self.anchor is not None else table.plan_first
                return Decision(self.final, attempt=self.attempt, mask=mask)
            ended = token == table.eot_id
            if ended:
                self.final = len(tokens)
                return Decision(self.final)
            # A blank line: the stanza is closed, the next line opens.
            return self._accept(tokens, j, "", None, closes=True, ended=False)
        if self.mode == "plan":
            if token == table.plan_close:
                self.plan_word = table.decode(self.plan).strip().lower() or None
                self.mode, self.body_start = "body", j + 1
                if not held:
                    self.final = len(tokens)
                return Decision(self.final, attempt=self.attempt, mask=table.line_opening)
            self.plan.append(token)
            if not held:
                self.final = len(tokens)
            if self.anchor is not None:
                mask = table.plan_mask(self.anchor, tuple(self.plan))
            else:
                mask = table.plan_close_only if len(self.plan) >= PLAN_MAX_TOKENS else table.plan_next
            return Decision(self.final, attempt=self.attempt, mask=mask)
        # The line's text after its plan.
        if not held:
            self.final = len(tokens)
        ended = token == table.eot_id
        if not ended and token not in table.newline:
            mask = self.stutter.allowed(table.decode(tokens[self.body_start:j + 1]), table.in_line)
            long_line = self._long_line(j, token)
            return Decision(self.final, attempt=self.attempt, mask=mask if long_line is None else long_line & mask)
        line = table.decode(tokens[self.body_start:j + 1]).replace(END_OF_TEXT, "")
        text, _, rest = line.partition("\n")
        if self._checking_title_repeat and text.strip() and self.attempt < TITLE_REPEAT_REWRITES \
                and _plain(text) == self.title:
            self.attempt += 1
            self.rewinds += 1
            self.mode = "start"
            return Decision(self.final, rewind_to=self.line_start, attempt=self.attempt, mask=table.line_start)
        word = end_word(text)
        if self.anchor is not None and text.strip() and word != self.plan_word and not rhymes(word, self.anchor) \
                and self.attempt < PLAN_REWRITES:
            self.attempt += 1
            self.rewinds += 1
            return Decision(self.final, rewind_to=self.body_start, attempt=self.attempt, mask=table.line_opening)
        return self._accept(tokens, j, text, word, closes="\n" in rest, ended=ended)

    def _long_line(self, j: int, token: int) -> torch.Tensor | None:
        """The mask that ends a line of prose: ``token``, at index ``j``, was its latest."""
        table = self.table
        length = j + 1 - (self.body_start if self.plans else self.line_start)
        if self.mode not in ("free", "body") or length < LINE_MAX_TOKENS:
            return None
        if length >= LINE_HARD_TOKENS or token in table.marks:
            return table.line_end_after_mark  # a newline (or the song's end) now
        return table.line_end_or_piece

    @property
    def _checking_title_repeat(self) -> bool:
        """Whether the line being written is the first lyric line of a titled
        song, which may still be rewritten for repeating the title."""
        return self.title is not None and self.lines == 0

    def _should_end(self, written: int) -> bool:
        """Whether the song ends after the line just accepted (``written`` tokens)."""
        if self.max_tokens and written >= self.max_tokens - END_RESERVE:
            return True
        group = len(self.scheme) if self.scheme else 1
        return bool(self.max_lines) and self.lines >= self.max_lines and len(self.stanza) % group == 0

    def _title(self, tokens: list[int], j: int) -> Decision:
        """The title, token ``j`` written: one line, ended by the lyrics marker
        (whose pieces, once begun, are forced in order), at most TITLE_MAX_TOKENS."""
        table, token = self.table, tokens[j]
        marker = table.marker
        self.final = len(tokens)  # a title's tokens are never taken back: stream them as written
        self.marker_at = self.marker_at + 1 if token == marker[self.marker_at] else int(token == marker[0])
        if self.marker_at == len(marker):
            self.line_start = j + 1
            self.title = _plain(table.decode(tokens[:j + 1 - len(marker)]))
            return Decision(self.final, mask=table.line_start if self.plans else None)
        if self.marker_at or j + 1 >= TITLE_MAX_TOKENS:
            return Decision(self.final, mask=table.marker_next[self.marker_at])
        return Decision(self.final, mask=table.in_title)

    def _watch(self) -> torch.Tensor | None:
        return self.table.word_mask(self.anchor) if self.anchor is not None and self.mode == "free" else None

    def _forget(self, start: int) -> None:
        self.chances = {k: p for k, p in self.chances.items() if k < start}

    def _best_word_start(self, tokens: list[int], j: int) -> int | None:
        """Where to write a rhyming word instead: of the line's last
        ``REWIND_WORDS`` word starts (never its first word), the one at which
        the model found a rhyming word most likely, the later one on a tie;
        None when even there it was below ``min_probability`` (the line is then
        kept as written). Only the last: from anywhere in the line, most lines
        shrink to two or three words, and the songs with them."""
        starts = [k for k in range(self.line_start + 1, j) if _WORD_START.match(self.table.text[tokens[k]])]
        best, where = -1.0, None
        for k in starts[-REWIND_WORDS:]:
            if self.chances.get(k, 0.0) >= best:
                best, where = self.chances.get(k, 0.0), k
        if where is None or best < self.min_probability or best <= 0.0:
            return None
        return where

    def _last_word_start(self, tokens: list[int], j: int) -> int | None:
        """Index of the first token of the line's last word (tokens before
        ``j``), when that token opens with a space; None for a line whose last
        word is its first, or is not separated by a space."""
        table, k = self.table, j - 1
        while k >= self.line_start and not table.has_letters(tokens[k]):
            k -= 1  # trailing punctuation
        while k > self.line_start and not table.text[tokens[k]].startswith(" ") \
                and table.has_letters(tokens[k - 1]):
            k -= 1  # the word's earlier pieces
        if k > self.line_start and _WORD_START.match(table.text[tokens[k]]):
            return k
        return None
