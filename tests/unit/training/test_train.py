"""The training tool end to end on tiny data: loss goes down, checkpoints
resume exactly, and the output directory is a model transformers and the song
format accept as is."""
from __future__ import annotations

import csv
import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from generator.songformat import END_OF_TEXT, LYRICS_MARKER, TITLE_MARKER, parse_song
from training.corpus import make_chunks
from training.train import main, parse_args, train

SONGS = [
    ("Row the Boat", "row row row the boat\ngently down the stream\n\nmerrily merrily\nlife is but a dream"),
    ("Twinkle", "twinkle twinkle little star\nhow I wonder what you are\n\nup above the world so high\n"
                "like a diamond in the sky"),
    ("Bells", "are you sleeping brother john\nmorning bells are ringing\n\nding dang dong\nding dang dong"),
    ("Haul Away", "haul away joe\nhaul away the bowline\n\nthe bully ship's a-rolling\nhaul away joe"),
]
TINY = ["--vocab-size", "300", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--n-positions", "64",
        "--context", "32", "--batch-size", "4", "--threads", "1", "--quiet", "--val-fraction", "0.2"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "songs.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["title", "lyrics", "book"])
        for _copy in range(5):  # 20 rows over two "books", so validation holds out a few
            for i, (title, lyrics) in enumerate(SONGS):
                w.writerow([title, lyrics, "hymns" if i < 3 else "shanties"])
    return path


def run(corpus, out, *extra):
    args = [str(corpus), "--title-column", "title", "--weight-column", "book", "--out", str(out), *TINY, *extra]
    return train(parse_args(args))


def chunk_loss(model, tokenizer, text: str) -> float:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    chunks = make_chunks([ids], [0], tokenizer.convert_tokens_to_ids(END_OF_TEXT), 64)
    with torch.no_grad():
        logits = model(input_ids=chunks[:, :-1]).logits
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), chunks[:, 1:].flatten()).item()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny model trained long enough to learn the format (shared by tests)."""
    tmp = tmp_path_factory.mktemp("trained")
    path = tmp / "songs.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["title", "lyrics", "book"])
        for _ in range(5):
            for title, lyrics in SONGS:
                w.writerow([title, lyrics, "x"])
    # Bigger than TINY (later options win): enough to memorise four songs in a few seconds.
    report = train(parse_args([str(path), "--title-column", "title", "--out", str(tmp / "model"), *TINY,
                               "--n-layer", "2", "--n-embd", "64", "--context", "64", "--n-positions", "128",
                               "--steps", "200", "--lr", "1e-2", "--warmup", "10", "--dropout", "0",
                               "--eval-every", "100", "--save-every", "1000", "--checkpoint", "fresh"]))
    return tmp / "model", report


def test_training_lowers_the_loss(trained):
    out, report = trained
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    text = END_OF_TEXT + "".join(f"{TITLE_MARKER}{title}{LYRICS_MARKER}{lyrics}{END_OF_TEXT}"
                                 for title, lyrics in SONGS)
    untrained = AutoModelForCausalLM.from_config(model.config).eval()
    before, after = chunk_loss(untrained, tokenizer, text), chunk_loss(model, tokenizer, text)
    assert after < before - 2.0, (before, after)
    assert report["validation_loss"] < before - 1.5  # held-out songs too (the same texts, other rows)
    written = json.loads((out / "training.json").read_text())
    assert written["validation_loss"] == report["validation_loss"]
    # The corpus is named by content, not by a path on the training machine.
    data = (out.parent / "songs.csv").read_bytes()
    assert written["corpus"] == [{"file": "songs.csv", "bytes": len(data),
                                  "sha256": hashlib.sha256(data).hexdigest()}]


def test_output_loads_with_transformers_and_generates_parseable_songs(trained):
    out, _ = trained
    assert (out / "model.safetensors").exists()
    assert not list(out.glob("*.bin"))
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(model).__name__ == "GPT2LMHeadModel"
    # The format's tokens are single tokens, not spelled out in bytes.
    for marker in (END_OF_TEXT, TITLE_MARKER, LYRICS_MARKER):
        assert len(tokenizer(marker, add_special_tokens=False)["input_ids"]) == 1
    gen = GenerationConfig.from_pretrained(out)
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    assert (gen.top_k, gen.temperature, gen.max_new_tokens, gen.eos_token_id, gen.do_sample) == (
        40, 1.0, 120, eos, True)  # 1024 capped to the 128 positions less the prompt's room
    prompt = torch.tensor([[eos]])
    # Greedy: the tiny model has memorised the songs, so a whole one comes back with its title.
    ids = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=100)
    text = tokenizer.decode(ids[0, 1:], skip_special_tokens=False)
    assert text.startswith(TITLE_MARKER) and text.endswith(END_OF_TEXT)
    song = parse_song(text)
    assert (song.title, song.lyrics) in SONGS
    # Sampled with the saved settings, a song per seed still parses into a title and lyrics.
    for seed in range(3):
        torch.manual_seed(seed)
        ids = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=60)
        song = parse_song(tokenizer.decode(ids[0, 1:], skip_special_tokens=False))
        assert song.title and song.lyrics


def test_a_finished_run_rewrites_its_output_with_new_sampling_settings(trained):
    """`make model` again after it finished: no training, the same weights, the
    new sampling settings, which the generator then serves the model with."""
    from generator.settings import GeneratorSettings

    out, report = trained
    again = train(parse_args([str(out.parent / "songs.csv"), "--title-column", "title", *TINY,
                              "--n-layer", "2", "--n-embd", "64", "--context", "64", "--n-positions", "128",
                              "--steps", "200", "--out", str(out.parent / "resampled"),
                              "--run-dir", str(out.parent / "model.run"), "--checkpoint", "latest",
                              "--top-k", "12", "--temperature", "0.8", "--rhyme-min-probability", "0.02",
                              "--max-lines", "30"]))
    assert (again["steps"], again["train_loss"]) == (200, report["train_loss"])
    assert again["validation_loss"] == pytest.approx(report["validation_loss"], rel=1e-5)
    assert 0 < again["training_seconds"] <= report["training_seconds"]  # the run's, not this call's
    a, b = load_file(out / "model.safetensors"), load_file(out.parent / "resampled" / "model.safetensors")
    assert all(torch.equal(a[name], b[name]) for name in a)
    gen = GenerationConfig.from_pretrained(out.parent / "resampled")
    assert (gen.top_k, gen.temperature) == (12, 0.8)
    served = GeneratorSettings.from_env({"MODEL_DIR": str(out.parent / "resampled")})
    # 120: what the 128 positions allow after the prompt
    assert (served.top_k, served.temperature, served.max_new_tokens) == (12, 0.8, 120)
    assert (served.rhyme, served.rhyme_min_probability, served.max_lines) == (True, 0.02, 30)
    assert GeneratorSettings.from_env({"MODEL_DIR": str(out)}).rhyme is False  # only when asked
    assert GeneratorSettings.from_env({"MODEL_DIR": str(out)}).max_lines == 0
    # The environment still has the last word.
    assert GeneratorSettings.from_env({"MODEL_DIR": str(out.parent / "resampled"),
                                       "GENERATOR_TEMPERATURE": "1.1"}).temperature == 1.1


def test_resume_continues_exactly_like_an_uninterrupted_run(corpus, tmp_path):
    # Dropout on and epochs wrapping within the run, so RNG state and data position both matter.
    common = ["--steps", "8", "--save-every", "2", "--eval-every", "3", "--dropout", "0.2",
              "--lr", "3e-3", "--warmup", "2", "--sample-every", "5"]
    whole = run(corpus, tmp_path / "whole", *common, "--checkpoint", "fresh")
    first = run(corpus, tmp_path / "split", *common, "--checkpoint", "fresh", "--stop-at", "5")
    assert first == {"steps": 5, "stopped": True}
    assert not (tmp_path / "split").exists()
    rest = run(corpus, tmp_path / "split", *common, "--checkpoint", "latest")
    assert rest["steps"] == 8
    assert (rest["train_loss"], rest["validation_loss"]) == (whole["train_loss"], whole["validation_loss"])
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "split" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # And a fresh start really starts over (the comparison above is not vacuous).
    again = run(corpus, tmp_path / "split", *common, "--checkpoint", "fresh", "--stop-at", "5", "--seed", "9")
    assert again["stopped"]
    moved = run(corpus, tmp_path / "split", *common, "--checkpoint", "latest", "--seed", "9")
    assert moved["train_loss"] != whole["train_loss"]


def test_checkpoint_path_option(corpus, tmp_path):
    run(corpus, tmp_path / "m", "--steps", "4", "--save-every", "2", "--checkpoint", "fresh", "--stop-at", "2")
    ckpt = tmp_path / "m.run" / "checkpoint.pt"
    assert torch.load(ckpt, weights_only=False)["step"] == 2
    report = run(corpus, tmp_path / "m", "--steps", "4", "--checkpoint", str(ckpt))
    assert report["steps"] == 4
    with pytest.raises(SystemExit, match="not found"):
        run(corpus, tmp_path / "m", "--steps", "4", "--checkpoint", str(tmp_path / "nope.pt"))


def test_fine_tune_from_a_gpt2_without_song_tokens(corpus, tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    # A stand-in for GPT-2 124M: byte-level BPE with only <|endoftext|>, a tiny GPT-2.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator([lyrics for _, lyrics in SONGS], trainers.BpeTrainer(
        vocab_size=280, special_tokens=[END_OF_TEXT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    base_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=END_OF_TEXT, bos_token=END_OF_TEXT)
    base = tmp_path / "gpt2"
    base_tok.save_pretrained(base)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(base_tok), n_positions=64, n_embd=32, n_layer=1,
                               n_head=2)).save_pretrained(base)
    run(corpus, tmp_path / "tuned", "--from", str(base), "--steps", "3", "--checkpoint", "fresh")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tuned")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "tuned")
    assert len(tokenizer) == len(base_tok) + 2
    assert model.get_input_embeddings().weight.shape[0] >= len(tokenizer)
    assert len(tokenizer(TITLE_MARKER + LYRICS_MARKER, add_special_tokens=False)["input_ids"]) == 2


def test_cli_stops_with_a_clear_message_for_a_bad_corpus(corpus, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(corpus), "--column", "Lyrics", "--out", str(tmp_path / "x"), *TINY])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "songs.csv" in err and "'Lyrics'" in err


def test_trained_model_round_trips_through_the_generator_engine(trained):
    from generator.engine import Engine
    from generator.engine import GenerationConfig as EngineConfig
    from generator.model import load_gpt2
    from generator.songformat import TITLE_MARKER
    from generator.songs import assemble, end_of_text_id, load_tokenizer

    out, _ = trained
    tokenizer = load_tokenizer(out)
    assert tokenizer.token_to_id(TITLE_MARKER) is not None
    # top_k=1 is greedy: the memorised song comes back whole, title apart from lyrics.
    gen = EngineConfig(eot_id=end_of_text_id(tokenizer), max_new_tokens=100, top_k=1)
    finished = Engine(load_gpt2(out, "cpu"), gen, max_batch=2).generate([7, 8])
    for song_id, done in finished.items():
        song = assemble(tokenizer, song_id, done.tokens, done.failed, gen.max_new_tokens)
        assert not song.failed
        assert (song.title, song.lyrics) in SONGS


@pytest.mark.parametrize("args,named", [
    (["--batch-size", "0"], "--batch-size"), (["--steps", "-3"], "--steps"), (["--lr", "nan"], "--lr"),
    (["--val-fraction", "1"], "--val-fraction"), (["--dropout", "1.5"], "--dropout"),
    (["--lora-rank", "4"], "--lora-rank"), (["--n-head", "3"], "--n-head"), (["--warmup", "-1"], "--warmup"),
    (["--context", "64", "--n-positions", "32"], "--context"), (["--min-lr", "1"], "--min-lr"),
    (["--top-k", "²"], "--top-k"), (["--max-new-tokens", "100"], "--max-new-tokens"),
    (["--steps", "10", "--restart-at", "10"], "--restart-at"), (["--restart-at", "0"], "--restart-at"),
])
def test_every_bad_argument_stops_before_work_with_one_line(corpus, tmp_path, args, named):
    import os
    import subprocess
    import sys
    env = dict(os.environ)
    out = tmp_path / "m"
    proc = subprocess.run([sys.executable, "-m", "training.train", str(corpus), *TINY, "--out", str(out), *args],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "m.run").exists()  # nothing was started


def test_a_small_corpus_trains_with_a_held_out_part_shorter_than_a_chunk(tmp_path):
    """40 short songs at the default context: the held-out songs make fewer
    tokens than one chunk (the issue's 'corpus too small: 153 tokens')."""
    path = tmp_path / "small.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["title", "lyrics"])
        for i in range(40):
            w.writerow([f"Song {i}", f"la la {i}\nhey ho"])
    tiny = [a for a in TINY]
    tiny[tiny.index("--context") + 1] = "256"
    tiny[tiny.index("--n-positions") + 1] = "300"
    report = train(parse_args([str(path), "--title-column", "title", *tiny, "--steps", "2", "--warmup", "1",
                               "--eval-every", "1", "--out", str(tmp_path / "m")]))
    assert report["validation_loss"] is not None and report["validation_songs"] == 8
    report = train(parse_args([str(path), "--title-column", "title", *tiny, "--steps", "2", "--warmup", "1",
                               "--val-fraction", "0", "--checkpoint", "fresh", "--out", str(tmp_path / "n")]))
    assert report["validation_loss"] is None and report["validation_songs"] == 0
    assert (tmp_path / "n" / "model.safetensors").exists()


def test_control_token_text_in_lyrics_stays_text(corpus, tmp_path):
    """Text from a CSV never becomes a control token: encode_song keeps
    <|endoftext|> spelled inside a lyric as ordinary tokens."""
    from training.corpus import CorpusSong
    from training.train import encode_song
    tokenizer = AutoTokenizer.from_pretrained(train(parse_args([str(corpus), "--title-column", "title", *TINY,
                                                                "--steps", "1", "--warmup", "0",
                                                                "--out", str(tmp_path / "m")])) and tmp_path / "m")
    eot = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    ids = encode_song(tokenizer, CorpusSong("T", "half <|endoftext|> half <|im_start|>", "", "x:2"))
    assert ids.count(eot) == 1 and ids[-1] == eot  # only the song's own end
    assert END_OF_TEXT in tokenizer.decode(ids[:-1])


def test_a_warm_restart_warms_up_again_and_ends_both_cycles_at_the_floor():
    from training.train import lr_at, parse_args
    a = parse_args(["corpus.csv", "--steps", "100", "--warmup", "10", "--lr", "1e-3", "--min-lr", "1e-4",
                    "--restart-at", "40"])
    plain = parse_args(["corpus.csv", "--steps", "40", "--warmup", "10", "--lr", "1e-3", "--min-lr", "1e-4"])
    # The first cycle is the 40-step run's schedule, step for step.
    assert [lr_at(s, a) for s in range(40)] == [lr_at(s, plain) for s in range(40)]
    assert lr_at(39, a) == pytest.approx(1e-4, rel=0.05)
    # Then a fresh warm-up from the floor to the peak, and a cosine down to the floor at the last step.
    assert lr_at(40, a) == pytest.approx(1e-4)
    assert lr_at(49, a) == pytest.approx(1e-3)
    assert lr_at(99, a) == pytest.approx(1e-4, rel=0.05)
    assert all(lr_at(s, a) >= lr_at(s + 1, a) for s in range(49, 99))


def test_line_plans_write_each_line_s_end_word_first_and_the_served_rules(corpus, tmp_path):
    """--line-plans trains on '{ word} line' lyrics and says so in
    generation_config.json, with the stutter rule's settings beside it."""
    import json

    from training.corpus import CorpusSong
    from training.train import encode_song
    out = tmp_path / "m"
    train(parse_args([str(corpus), "--title-column", "title", *TINY, "--steps", "1", "--warmup", "0",
                      "--line-plans", "--max-word-run", "2", "--max-pair-repeats", "3", "--out", str(out)]))
    config = json.loads((out / "generation_config.json").read_text())
    assert config["line_plans"] is True and config["max_word_run"] == 2 and config["max_pair_repeats"] == 3
    tokenizer = AutoTokenizer.from_pretrained(out)
    song = CorpusSong("T", "Over the hill,\nand far away!\n\nAgain", "", "x:2")
    text = tokenizer.decode(encode_song(tokenizer, song, line_plans=True))
    assert text.endswith("{ hill} Over the hill,\n{ away} and far away!\n\n{ again} Again" + END_OF_TEXT)
    assert "{" not in tokenizer.decode(encode_song(tokenizer, song))
