"""The batching engine: continuous batching over a fixed-shape decode step.

Songs wait in a queue; each free row (slot) of the batch takes the next one at
once, and a finished song frees its row for the next step, so work follows the
real song lengths. Every step runs all ``max_batch`` rows (idle rows are
padding), and attention reads the cache blocks the furthest row has filled,
each row masked to its own part, with every reduction of a fixed shape
(generator.attention): a song is byte-identical whichever batch it ran in.
Tokens, positions and the KV cache stay on the device; the only host copy per
step is the (B,) vector of new tokens, needed to see which songs ended; the
host counts each row's position itself to know how many blocks to read.

With rhyme schemes on (generator.rhymes), a row whose line must rhyme and does
not is rewound: its position is set back and the next steps overwrite its
cache. Tokens are handed out only once final, so nobody sees a line vanish.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import torch

from generator.llama import Llama
from generator.model import GPT
from generator.rhymes import RhymeTable, SongRules, scheme_for
from generator.sampling import banned_by_ngrams, sample, song_id_to_int64

# Noise of a rewritten line: the attempt number enters the counter as the high
# half of the step index (positions stay far below 2^32).
ATTEMPT_SHIFT = 32


@dataclass(frozen=True)
class GenerationConfig:
    eot_id: int                # stop token (<|endoftext|>), and the prompt's first
    max_new_tokens: int = 1024
    top_k: int = 40
    temperature: float = 1.0
    # No n-gram of this many tokens twice in a song (0: off); breaks the loops a
    # small model falls into ("How great and great Lord!" four times over).
    no_repeat_ngram_size: int = 0
    # What every song starts from, fed before sampling begins: (eot_id,) by
    # default; a model that writes titles gets its title marker too, so every
    # song opens with a title (songformat.song_prompt).
    prompt: tuple[int, ...] = ()
    # Rhyme schemes a song's id picks from (generator.rhymes; empty: off), and
    # how many free rewrites a line that must rhyme gets before its last word
    # is chosen among rhyming words.
    rhyme_schemes: tuple[str, ...] = ()
    rhyme_attempts: int = 0
    # A line is rewritten to rhyme only where the model found a rhyming word
    # at least this likely (rhymes.SongRules).
    rhyme_min_probability: float = 0.0
    # A song with this many lines ends after the next line closing a rhyme
    # group (rhymes.SongRules; 0: only the model ends songs).
    max_lines: int = 0
    # The model writes each lyric line's end word before the line
    # (songformat.plan_lines); rhyming lines plan a rhyming word (rhymes.SongRules).
    line_plans: bool = False
    # Within a line, no word more than max_word_run times running and no word
    # pair more than max_pair_repeats times (rhymes.Stutter; 0: off).
    max_word_run: int = 0
    max_pair_repeats: int = 0

    @property
    def needs_rules(self) -> bool:
        """Whether rows follow rhymes.SongRules (given a titled model, they always do)."""
        return bool(self.rhyme_schemes or self.max_lines or self.line_plans or self.max_word_run
                    or self.max_pair_repeats)

    @property
    def prompt_ids(self) -> tuple[int, ...]:
        return self.prompt or (self.eot_id,)


@dataclass
class Finished:
    song_id: int
    tokens: list[int]          # generated tokens, including the final end-of-text if any
    failed: bool               # True: no end-of-text within max_new_tokens
    sampled: int = 0           # tokens sampled for it, rewritten ones too
    rewinds: int = 0           # lines rewritten to rhyme


@dataclass
class _Row:
    song_id: int
    tokens: list[int] = field(default_factory=list)
    prompt_left: int = 0       # prompt tokens still to feed (their steps sample nothing)
    urgent: bool = False       # a visitor waits for it
    rules: SongRules | None = None
    final: int = 0             # tokens already handed out (rhymes: the rest may be rewritten)
    sampled: int = 0
    mask: torch.Tensor | None = None  # tokens allowed at its next sample (None: all)
    watch: torch.Tensor | None = None  # rhyming words whose probability its next sample reports


class Engine:
    def __init__(self, model: GPT | Llama, gen: GenerationConfig, max_batch: int, urgent_rows: int = 0,
                 rhyme_table: RhymeTable | None = None, titled: bool = False, prefix: str = ""):
        """``urgent_rows``: rows bulk songs never take, so a visitor's song starts
        at the next step instead of waiting for a bulk song to end. Scheduling
        only: every step still runs all ``max_batch`` rows, so no text changes.
        ``titled``: songs open with a title, one line ended by the lyrics
        marker; ``prefix``: the prompt's text after END_OF_TEXT; ``rhyme_table``:
        the tokenizer's, needed for titles and for ``gen.rhyme_schemes``.

        Raises ValueError for an urgent_rows outside 0..max_batch-1, or rhyme
        schemes without a rhyme table."""
        if not 0 <= urgent_rows < max_batch:
            raise ValueError(f"urgent_rows {urgent_rows} must be from 0 to below max_batch {max_batch}")
        if (gen.needs_rules or titled) and rhyme_table is None:
            raise ValueError("rhyme schemes, titles, max_lines, line plans and the stutter rule need the "
                             "tokenizer's table (rhymes.RhymeTable)")
        if gen.line_plans and not rhyme_table.plans:
            raise ValueError("line plans need a rhymes.RhymeTable made with plans=True")
        self.model, self.gen, self.max_batch, self.urgent_rows = model, gen, max_batch, urgent_rows
        self.rhyme_table, self.titled, self.prefix = rhyme_table, titled, prefix
        self.urgent: set[int] = set()  # waiting songs a visitor waits for
        device = model.device
        # One cache position per prompt token and per generated token but the
        # last: the prompt sits at 0..P-1 and the token generated at step t is
        # fed back at position t + 1.
        self.prompt = torch.tensor(gen.prompt_ids, dtype=torch.int64, device=device)
        self.cache = model.new_cache(max_batch, gen.max_new_tokens + len(gen.prompt_ids) - 1)
        self.tokens = torch.full((max_batch,), gen.prompt_ids[0], dtype=torch.int64, device=device)
        self.pos = torch.zeros(max_batch, dtype=torch.int64, device=device)
        self.ids = torch.zeros(max_batch, dtype=torch.int64, device=device)
        self.attempts = torch.zeros(max_batch, dtype=torch.int64, device=device)  # rewrite of the line
        self.everything = torch.ones(model.config.vocab_size, dtype=torch.bool, device=device)
        self.nothing = torch.zeros(model.config.vocab_size, dtype=torch.bool, device=device)
        # Each row's song so far (prompt at 0), for the n-gram rule; stale tokens
        # of a row's earlier song lie past its position and are never read.
        self.history = torch.full((max_batch, self.cache.length), gen.eot_id, dtype=torch.int64, device=device)
        self.rows: list[_Row | None] = [None] * max_batch
        self.waiting: deque[int] = deque()
        self.steps = 0             # decode steps run (for tests and stats)

    # -- queue ------------------------------------------------------------
    def submit(self, song_id: int, urgent: bool = False) -> None:
        """Queue a song; ``urgent`` ones (a visitor is waiting) go before bulk
        pregeneration. Order never changes a song's text, only when it runs."""
        song_id_to_int64(song_id)  # reject non-uint64 ids before they reach a row
        if urgent:
            self.urgent.add(song_id)
            self.waiting.appendleft(song_id)
        else:
            self.waiting.append(song_id)

    def expedite(self, song_id: int) -> None:
        """Move a waiting song to the front (a visitor now waits for it)."""
        try:
            self.waiting.remove(song_id)
        except ValueError:
            return  # already running or done
        self.urgent.add(song_id)
        self.waiting.appendleft(song_id)

    def cancel(self, song_id: int) -> None:
        """Drop a waiting or running song; its row is free for the next step."""
        try:
            self.waiting.remove(song_id)
        except ValueError:
            pass
        self.urgent.discard(song_id)
        for slot, row in enumerate(self.rows):
            if row is not None and row.song_id == song_id:
                self.rows[slot] = None

    @property
    def busy(self) -> bool:
        return bool(self.waiting) or any(r is not None for r in self.rows)

    @property
    def active(self) -> int:
        return sum(r is not None for r in self.rows)

    def _fill_free_rows(self) -> None:
        bulk = sum(r is not None and not r.urgent for r in self.rows)
        for slot in range(self.max_batch):
            if not self.waiting:
                return
            if self.rows[slot] is None:
                # Urgent songs wait at the front; a bulk one may not take the reserved rows.
                urgent = self.waiting[0] in self.urgent
                if not urgent and bulk >= self.max_batch - self.urgent_rows:
                    return
                song_id = self.waiting.popleft()
                self.urgent.discard(song_id)
                bulk += not urgent
                rules = None
                if self.gen.needs_rules or self.titled:
                    scheme = scheme_for(song_id, self.gen.rhyme_schemes) if self.gen.rhyme_schemes else None
                    rules = SongRules(self.rhyme_table, scheme, self.gen.rhyme_attempts, self.titled, self.prefix,
                                      self.gen.rhyme_min_probability, self.gen.max_lines, self.gen.max_new_tokens,
                                      stutter=(self.gen.max_word_run, self.gen.max_pair_repeats))
                self.rows[slot] = _Row(song_id, prompt_left=len(self.gen.prompt_ids) - 1, urgent=urgent,
                                       rules=rules, mask=rules.first_mask if rules else None)
                self.tokens[slot] = self.gen.prompt_ids[0]
                self.pos[slot] = 0
                self.ids[slot] = song_id_to_int64(song_id)
                self.attempts[slot] = 0

    # -- one step ---------------------------------------------------------
    def step(self) -> tuple[list[tuple[int, int]], list[Finished]]:
        """Run one decode step for every row.

        Returns (song_id, new token) for each running song, and the songs that
        finished at this step (their rows are already free).
        """
        self._fill_free_rows()
        # The furthest row's position, known here without asking the device.
        furthest = max((self._position(row) for row in self.rows if row is not None), default=0)
        logits = self.model.step(self.tokens, self.pos, self.cache, furthest)            # (B, V)
        banned = None
        if self.gen.no_repeat_ngram_size:
            self.history.scatter_(1, self.pos[:, None], self.tokens[:, None])
            banned = banned_by_ngrams(self.history, self.pos, self.gen.no_repeat_ngram_size, logits.shape[-1])
        watched = None
        if any(row is not None and row.watch is not None for row in self.rows):
            # How likely each row's model found a rhyming word here (rhymes.SongRules
            # rewrites a line's last word only where it was likely enough); at the
            # sampling temperature, per row.
            watch = torch.stack([self.nothing if row is None or row.watch is None else row.watch
                                 for row in self.rows])                                  # (B, V)
            seen = logits if banned is None else logits.masked_fill(banned, float("-inf"))
            probs = torch.softmax(seen.float() / self.gen.temperature, dim=-1)
            watched = (probs * watch).sum(-1)                                            # (B,)
        allowed = None
        if any(row is not None and row.mask is not None and not row.prompt_left for row in self.rows):
            allowed = torch.stack([self.everything if row is None or row.mask is None or row.prompt_left
                                   else row.mask for row in self.rows])                  # (B, V)
        if allowed is not None and banned is not None:
            # A rule's mask outranks the n-gram ban: where the ban would leave a
            # row none of the tokens its rules allow (a repeated line followed
            # by the same plan), the row keeps its rules' tokens. Per row, on
            # the device: no host sync, no dependence on the batch.
            both = allowed & ~banned
            allowed = torch.where(both.any(-1, keepdim=True), both, allowed)
        elif banned is not None:
            allowed = ~banned
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        # The step index t of the token being sampled equals the input position;
        # a rewritten line's attempt number is its high half (0 for every line
        # written once: those keep the plain counter).
        counter = self.pos + (self.attempts << ATTEMPT_SHIFT)
        nxt = sample(logits, self.ids, counter, self.gen.top_k, self.gen.temperature)    # (B,)
        if len(self.gen.prompt_ids) > 1:
            # Rows still in their prompt take its next token instead of the sample.
            following = self.pos + 1
            forced = following < len(self.gen.prompt_ids)
            nxt = torch.where(forced, self.prompt[following.clamp(max=len(self.gen.prompt_ids) - 1)], nxt)
        self.tokens = nxt
        self.pos = torch.clamp(self.pos + 1, max=self.cache.length - 1)
        self.steps += 1
        if watched is None:
            new_tokens, chances = nxt.tolist(), None                                     # the one host sync
        else:
            # Token ids are exact in float64: still one host sync.
            new_tokens, chances = torch.stack([nxt.double(), watched.double()]).tolist()
            new_tokens = [int(t) for t in new_tokens]
        emitted, finished = [], []
        for slot, row in enumerate(self.rows):
            if row is None:
                continue
            if row.prompt_left:
                row.prompt_left -= 1
                continue
            token = new_tokens[slot]
            row.tokens.append(token)
            row.sampled += 1
            final = len(row.tokens)
            if row.rules is not None:
                decision = row.rules.feed(row.tokens, chances[slot] if chances else 0.0)
                final, row.mask, row.watch = decision.final, decision.mask, decision.watch
                if decision.rewind_to is not None:
                    self._rewind(slot, row, decision.rewind_to, decision.attempt)
                    continue
            ended = row.tokens[-1] == self.gen.eot_id
            if ended or len(row.tokens) >= self.gen.max_new_tokens:
                final = len(row.tokens)  # the song is over: every token is final
            emitted += [(row.song_id, t) for t in row.tokens[row.final:final]]
            row.final = final
            if ended or len(row.tokens) >= self.gen.max_new_tokens:
                finished.append(Finished(row.song_id, row.tokens, failed=not ended, sampled=row.sampled,
                                         rewinds=row.rules.rewinds if row.rules else 0))
                self.rows[slot] = None
        return emitted, finished

    def _position(self, row: _Row) -> int:
        """The cache position of the token a row feeds at the next step (its
        device copy is ``self.pos``): prompt tokens, then one per generated token."""
        return len(self.gen.prompt_ids) - 1 - row.prompt_left + len(row.tokens)

    def _rewind(self, slot: int, row: _Row, length: int, attempt: int) -> None:
        """Set a row back so that its song's token ``length`` is sampled again:
        fed its token ``length - 1`` at that token's position; what follows in
        its cache and history is overwritten by the steps to come."""
        del row.tokens[length:]
        self.tokens[slot] = row.tokens[-1] if row.tokens else self.gen.prompt_ids[-1]
        self.pos[slot] = len(self.gen.prompt_ids) - 1 + length
        self.attempts[slot] = attempt

    def generate(self, song_ids) -> dict[int, Finished]:
        """Generate every id (continuous batching); for the CLI, bench and tests."""
        for song_id in song_ids:
            self.submit(song_id)
        done: dict[int, Finished] = {}
        while self.busy:
            for f in self.step()[1]:
                done[f.song_id] = f
        return done
