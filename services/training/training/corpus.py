"""Reading a lyrics corpus from CSV files and turning it into training chunks.

The original tool split CSVs by hand and broke on lyrics with quoted newlines;
here Python's ``csv`` module parses RFC 4180 (multi-line quoted fields), and
every problem stops with a message naming the file and the line.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from generator.songformat import END_OF_TEXT, SPECIAL_TOKENS, format_song


class CorpusError(Exception):
    """The corpus cannot be used as given; the message says where and why."""


@dataclass(frozen=True)
class CorpusSong:
    """One song as the corpus holds it, for training: text plus where it came from (not
    the served billionsongs.common.songs.Song, which is a model release's output)."""
    title: str  # "" when the corpus has no title column
    lyrics: str
    group: str  # value of the weight column (the book), "" without one
    source: str  # "path:line", for messages


def training_text(song: CorpusSong) -> str:
    """One song as the model sees it (the stream starts with END_OF_TEXT, and
    each song ends with it, so every song follows an END_OF_TEXT prompt).
    Without titles the markers are left out: such a model writes lyrics only
    and the generator titles it by the first line."""
    if song.title:
        return format_song(song.title, song.lyrics)
    return song.lyrics.strip() + END_OF_TEXT


def find_csv_files(paths: list[str | Path], include: str = "*.csv") -> list[Path]:
    """Files named on the command line, or matched by `include` under folders."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and fnmatch.fnmatch(f.name, include))
        elif p.is_file():
            found.append(p)
        else:
            raise CorpusError(f"{p}: no such file or folder")
    return found


def read_csv(path: Path, column: str, title_column: str | None = None,
             group_column: str | None = None) -> list[CorpusSong]:
    raw = path.read_bytes()
    try:
        # Decode the whole file first so a bad byte is reported with its line,
        # not as a bare traceback from deep inside the csv reader.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise CorpusError(f"{path}: line {line}: not UTF-8 ({e.reason} at byte {e.start}); "
                          f"re-encode the file as UTF-8") from None
    # newline='' as the csv module's documentation asks: the reader alone decides
    # what ends a record, so U+0085, U+2028, form feed and friends inside a field
    # stay text (str.splitlines would cut the record there).
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as e:
        raise CorpusError(f"{path}: line 1: bad CSV header: {e}") from None
    for name, what in ((column, "--column"), (title_column, "--title-column"), (group_column, "--weight-column")):
        if name is not None and name not in header:
            raise CorpusError(f"{path}: line 1: no column {name!r} ({what}); "
                              f"columns are: {', '.join(header) or '(none)'}")
    songs = []
    try:
        while True:
            first = reader.line_num + 1  # the line this record starts on
            row = next(reader, None)
            if row is None:
                break
            lyrics = (row.get(column) or "").strip()
            if not lyrics:
                continue  # an empty row teaches nothing; not worth stopping for
            title = " ".join((row.get(title_column) or "").split()) if title_column else ""
            group = (row.get(group_column) or "").strip() if group_column else ""
            marker = next((m for m in SPECIAL_TOKENS if m in title or m in lyrics), None)
            if marker is not None:
                # The generator's parser reads these as the song's structure, so
                # a row spelling one cannot be learned as text: refuse it, loudly.
                print(f"{path}: line {first}: row refused: its text contains {marker!r}, "
                      f"a marker of the song format", file=sys.stderr)
                continue
            songs.append(CorpusSong(title, lyrics, group, f"{path}:{first}"))
    except csv.Error as e:
        raise CorpusError(f"{path}: line {first}: bad CSV: {e}") from None
    return songs


def read_corpus(paths: list[str | Path], include: str = "*.csv", column: str = "lyrics",
                title_column: str | None = None, group_column: str | None = None) -> list[CorpusSong]:
    files = find_csv_files(paths, include)
    if not files:
        raise CorpusError(f"no files matching {include!r} in {', '.join(map(str, paths))}")
    songs = [s for f in files for s in read_csv(f, column, title_column, group_column)]
    if not songs:
        raise CorpusError(f"empty corpus: no rows with text in column {column!r} in "
                          f"{', '.join(map(str, files))}")
    return songs


def split_validation(songs: list[CorpusSong], fraction: float, seed: int) -> tuple[list[CorpusSong], list[CorpusSong]]:
    """Hold out whole songs (not chunks), so validation text is never trained on."""
    order = list(range(len(songs)))
    random.Random(seed).shuffle(order)
    n_val = min(len(songs) - 1, math.ceil(len(songs) * fraction)) if fraction > 0 else 0
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [songs[i] for i in train], [songs[i] for i in val]


def group_weights(songs: list[CorpusSong], power: float) -> list[float]:
    """Expected copies of each song per epoch, so that a group's (book's) share
    of the stream is proportional to size**power, keeping the epoch's song count.
    power=1 keeps the rows as they come; power=0.5 lets the 1,300-hymn book
    weigh ~7x a 26-song shanty book instead of 50x; power=0 gives books equal shares."""
    sizes: dict[str, int] = {}
    for s in songs:
        sizes[s.group] = sizes.get(s.group, 0) + 1
    total = sum(n ** power for n in sizes.values())
    return [len(songs) * (sizes[s.group] ** power / total) / sizes[s.group] for s in songs]


def epoch_order(weights: list[float], seed: int, epoch: int) -> list[int]:
    """CorpusSong indices for one epoch: floor(w) copies of each song plus one more
    with probability frac(w), shuffled. A pure function of (seed, epoch), so a
    resumed run rebuilds exactly the epoch it stopped in."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = []
    for i, w in enumerate(weights):
        copies = int(w) + (1 if rng.random() < w - int(w) else 0)
        order += [i] * copies
    rng.shuffle(order)
    return order


def make_chunks(token_lists: list[list[int]], order: list[int], eos_id: int, size: int) -> torch.Tensor:
    """Bundle songs into one stream (END_OF_TEXT first, each song ends with it)
    and cut it into rows of size+1 tokens: inputs are row[:-1], targets row[1:].
    Rows overlap by one token so no prediction falls between two rows."""
    stream = [eos_id]
    for i in order:
        stream += token_lists[i]
    n = (len(stream) - 1) // size
    if n == 0:
        raise CorpusError(f"the training songs make {len(stream)} tokens, fewer than one chunk of "
                          f"--context {size} needs ({size + 1}): add songs or lower --context")
    t = torch.tensor(stream[: n * size + 1], dtype=torch.long)
    return t.unfold(0, size + 1, size)  # (n, size+1)
