"""Reading lyrics CSVs and turning songs into training chunks (small CSVs
written here; never the shared corpus)."""
from __future__ import annotations

import csv

import pytest

from generator.songformat import END_OF_TEXT, parse_song
from training.corpus import (
    CorpusError,
    CorpusSong,
    epoch_order,
    group_weights,
    make_chunks,
    read_corpus,
    read_csv,
    split_validation,
    training_text,
)


def write_csv(path, rows, header=("title", "lyrics", "book")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_quoted_multiline_fields_are_one_song(tmp_path):
    lyrics = 'Oh, the "wind" blows,\nand the sea, it rolls\n\nChorus:\nHaul away!'
    write_csv(tmp_path / "a.csv", [("Wind", lyrics, "Shanties"), ("Two", "one\ntwo", "Shanties")])
    songs = read_corpus([tmp_path], column="lyrics", title_column="title", group_column="book")
    assert [s.title for s in songs] == ["Wind", "Two"]
    assert songs[0].lyrics == lyrics
    assert songs[0].group == "Shanties"


def test_include_pattern_picks_files_in_folders(tmp_path):
    write_csv(tmp_path / "a.csv", [("A", "la", "x")])
    (tmp_path / "sub").mkdir()
    write_csv(tmp_path / "sub" / "b.csv", [("B", "la", "x")])
    write_csv(tmp_path / "notes.txt", [("C", "la", "x")])
    songs = read_corpus([tmp_path], include="*.csv", column="lyrics", title_column="title")
    assert sorted(s.title for s in songs) == ["A", "B"]


def test_missing_column_names_file_and_columns(tmp_path):
    path = write_csv(tmp_path / "songs.csv", [("A", "la", "x")])
    with pytest.raises(CorpusError) as e:
        read_corpus([path], column="Lyrics")
    msg = str(e.value)
    assert "songs.csv" in msg and "'Lyrics'" in msg and "line 1" in msg and "title, lyrics, book" in msg


def test_bad_encoding_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("title,lyrics\nA,fine\nB,caf\xe9 song\n".encode("latin-1"))
    with pytest.raises(CorpusError) as e:
        read_corpus([path], column="lyrics")
    assert "latin1.csv: line 3" in str(e.value) and "UTF-8" in str(e.value)


def test_empty_corpus_is_an_error(tmp_path):
    path = write_csv(tmp_path / "empty.csv", [("A", "  ", "x")])
    with pytest.raises(CorpusError, match="empty corpus.*empty.csv"):
        read_corpus([path], column="lyrics")
    with pytest.raises(CorpusError, match="no files matching"):
        read_corpus([tmp_path], include="*.tsv", column="lyrics")


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus([tmp_path / "nope"], column="lyrics")


def test_training_text_round_trips_through_songformat():
    song = CorpusSong("  The   Title ", "line one\nline two\n", "", "x:1")
    text = training_text(song)
    assert text == "<|title|>The Title<|lyrics|>line one\nline two<|endoftext|>"
    parsed = parse_song(text)
    assert (parsed.title, parsed.lyrics) == ("The Title", "line one\nline two")
    # Without a title column no markers: the model learns lyrics only.
    assert training_text(CorpusSong("", "la la\n", "", "x:1")) == "la la" + END_OF_TEXT


def test_group_weights_balance_books():
    songs = [CorpusSong("t", "l", "big", "") for _ in range(100)]
    songs += [CorpusSong("t", "l", "small", "") for _ in range(4)]
    w = group_weights(songs, 0.5)
    assert sum(w) == pytest.approx(len(songs))  # an epoch keeps its size
    big, small = sum(w[:100]), sum(w[100:])
    assert big / small == pytest.approx((100 / 4) ** 0.5)  # 5x, not 25x
    assert group_weights(songs, 1.0) == pytest.approx([1.0] * len(songs))
    w0 = group_weights(songs, 0.0)
    assert sum(w0[:100]) == pytest.approx(sum(w0[100:]))


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    weights = [0.5, 1.0, 2.5, 1.0]
    assert epoch_order(weights, 1, 3) == epoch_order(weights, 1, 3)
    assert epoch_order(weights, 1, 3) != epoch_order(weights, 1, 4)
    counts = [0] * 4
    for e in range(400):
        for i in epoch_order(weights, 1, e):
            counts[i] += 1
    assert [c / 400 for c in counts] == pytest.approx(weights, abs=0.1)
    assert all(epoch_order(weights, 2, e).count(2) in (2, 3) for e in range(20))


def test_chunks_bundle_songs_in_order_and_overlap_by_one():
    songs = [[10, 11, 0], [20, 21, 22, 0], [30, 0]]
    chunks = make_chunks(songs, [1, 0, 2], eos_id=0, size=4)
    stream = [0, 20, 21, 22, 0, 10, 11, 0, 30, 0]
    assert chunks.shape == (2, 5)
    assert chunks[0].tolist() == stream[0:5]
    assert chunks[1].tolist() == stream[4:9]  # last target of row 0 is first input of row 1
    with pytest.raises(CorpusError, match="fewer than one chunk"):
        make_chunks(songs, [2], eos_id=0, size=4)


def test_validation_split_holds_out_whole_songs_deterministically():
    songs = [CorpusSong(f"t{i}", f"l{i}", "", "") for i in range(40)]
    train, val = split_validation(songs, 0.1, seed=5)
    assert len(val) == 4 and len(train) == 36
    assert set(s.title for s in train).isdisjoint(s.title for s in val)
    assert split_validation(songs, 0.1, seed=5) == (train, val)
    assert split_validation(songs, 0.0, seed=5) == (songs, [])


@pytest.mark.parametrize("sep", ["\u0085", "\u2028", "\u2029", "\x0c", "\x0b", "\x1e", "\x1c"])
def test_unquoted_fields_keep_text_after_unicode_line_separators(tmp_path, sep):
    path = tmp_path / "s.csv"
    path.write_text(f"title,lyrics\nOne,first half{sep}second half\nTwo,plain\n", encoding="utf-8", newline="")
    songs = read_csv(path, "lyrics", "title")
    assert [(s.title, s.lyrics) for s in songs] == [("One", f"first half{sep}second half"), ("Two", "plain")]
    assert [s.source for s in songs] == [f"{path}:2", f"{path}:3"]


def test_errors_name_the_line_a_record_starts_on(tmp_path):
    path = tmp_path / "s.csv"
    # A field past the csv module's limit (often an unbalanced quote swallowing
    # the file): the error names the line where that record starts.
    big = "x" * 150_000
    path.write_text(f'title,lyrics\nA,"one\ntwo"\nB,b\nC,"{big}"\n', encoding="utf-8", newline="")
    with pytest.raises(CorpusError, match=r"s\.csv: line 5: bad CSV: field larger"):
        read_csv(path, "lyrics", "title")
    path.write_text('title,lyrics\nA,"one\ntwo"\nB,b\nD,"bad"quote\n', encoding="utf-8", newline="")
    with pytest.raises(CorpusError, match=r"s\.csv: line 5: bad CSV"):
        read_csv(path, "lyrics", "title")


def test_rows_spelling_the_song_format_markers_are_refused_with_file_and_line(tmp_path, capsys):
    path = tmp_path / "s.csv"
    path.write_text("title,lyrics\nGood,la la\nBad,la <|title|> la\nWorse<|lyrics|>,x\n", encoding="utf-8")
    songs = read_csv(path, "lyrics", "title")
    assert [s.title for s in songs] == ["Good"]
    err = capsys.readouterr().err
    assert f"{path}: line 3: row refused" in err and f"{path}: line 4: row refused" in err
