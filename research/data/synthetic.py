"""Synthetic sequence-to-sequence tasks with known answers: copy, reverse, sort, addition.

Registered as 'synthetic_seq'. Every example is a deterministic function of (seed, split, index),
so two runs with one config see identical data. Lengths are configurable per split, which makes
length studies one config change: train on lengths 1–10, test on 11–20.

Dataset config fields:
  task              'copy' | 'reverse' | 'sort' | 'addition'
  vocab_size        number of symbols (copy/reverse/sort; default 10). Addition always uses 0–9 and '+'.
  min_len, max_len  sequence length range (addition: digits per operand); defaults 1 and 10.
  test_min_len, test_max_len   optional different range for validation and test (length generalization).
  num_train, num_validation, num_test   split sizes (defaults 10000, 500, 500).
  seed              data seed (default 0).
  pad_multiple, bucket_boundaries       as for translation data (research/data/translation.py).
Examples carry the same columns as translation data (`src`, `tgt` ragged int32 ids, `src_text`,
`tgt_text`, `id`) and the same `PadCollate`, so models and decoders cannot tell them apart.
"""

from __future__ import annotations

import functools

import numpy as np
from ml_collections import ConfigDict

from research import registry
from research.data.base import ArraySource, Dataset, ragged
from research.data.translation import PadCollate
from research.data.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, Vocab
from research.errors import UserError

TASKS = ("copy", "reverse", "sort", "addition")
_SPLIT_INDEX = {"train": 0, "validation": 1, "test": 2}
_DIGITS = tuple("0123456789")


def task_vocab(task: str, vocab_size: int) -> Vocab:
  """Symbols get ids 4..: 's0', 's1', … (ordered, so 'sort' means sorting ids) or digits and '+'."""
  if task == "addition":
    return Vocab.from_tokens(_DIGITS + ("+",), kind="char")
  return Vocab.from_tokens(tuple(f"s{i}" for i in range(vocab_size)), kind="word")


def target_ids(task: str, src: np.ndarray) -> np.ndarray:
  """The correct output for `src` (int32 ids, vocabulary of `task_vocab`)."""
  if task == "copy":
    return src.copy()
  if task == "reverse":
    return src[::-1].copy()
  if task == "sort":
    return np.sort(src)
  if task == "addition":
    offset = len(SPECIALS)
    plus = offset + len(_DIGITS)
    k = int(np.flatnonzero(src == plus)[0])
    a, b = (int("".join(str(d - offset) for d in part)) for part in (src[:k], src[k + 1:]))
    return np.asarray([offset + int(c) for c in str(a + b)], np.int32)
  raise UserError(f"unknown synthetic task {task!r}; use one of {', '.join(TASKS)}")


def generate(task: str, n: int, *, vocab_size: int, min_len: int, max_len: int,
             rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """n (source, target) id pairs. Addition operands have min_len..max_len digits, no leading zero."""
  offset = len(SPECIALS)
  srcs, tgts = [], []
  for _ in range(n):
    if task == "addition":
      parts = []
      for _ in range(2):
        d = int(rng.integers(min_len, max_len + 1))
        digits = rng.integers(0, 10, size=d)
        if d > 1:
          digits[0] = rng.integers(1, 10)  # a leading zero would make the answer ambiguous to read
        parts.append(digits + offset)
      src = np.concatenate([parts[0], [offset + len(_DIGITS)], parts[1]]).astype(np.int32)
    else:
      length = int(rng.integers(min_len, max_len + 1))
      src = (rng.integers(0, vocab_size, size=length) + offset).astype(np.int32)
    srcs.append(src)
    tgts.append(target_ids(task, src))
  return srcs, tgts


def _check(cfg: ConfigDict) -> None:
  task = cfg.get("task", "copy")
  if task not in TASKS:
    raise UserError(f"config.dataset.task={task!r}; use one of {', '.join(TASKS)}")
  for key in ("min_len", "max_len", "test_min_len", "test_max_len"):
    v = cfg.get(key)
    if v is not None and int(v) < 1:
      raise UserError(f"config.dataset.{key}={v} must be >= 1")
  if int(cfg.get("min_len", 1)) > int(cfg.get("max_len", 10)):
    raise UserError(f"config.dataset.min_len={cfg.min_len} > max_len={cfg.max_len}")
  if int(cfg.get("vocab_size", 10)) < 1:
    raise UserError("config.dataset.vocab_size must be >= 1")


@registry.datasets.register("synthetic_seq")
def synthetic_seq(cfg: ConfigDict, data_dir: str | None = None) -> Dataset:
  """Generated in memory (no files), so `data_dir` is unused."""
  _check(cfg)
  task = cfg.get("task", "copy")
  vocab_size = int(cfg.get("vocab_size", 10))
  seed = int(cfg.get("seed", 0))
  lens = {"train": (int(cfg.get("min_len", 1)), int(cfg.get("max_len", 10)))}
  eval_lens = (int(cfg.get("test_min_len") or lens["train"][0]), int(cfg.get("test_max_len") or lens["train"][1]))
  if eval_lens[0] > eval_lens[1]:
    raise UserError(f"config.dataset test_min_len={eval_lens[0]} > test_max_len={eval_lens[1]}")
  lens["validation"] = lens["test"] = eval_lens
  sizes = {s: int(cfg.get(f"num_{s}", d)) for s, d in (("train", 10000), ("validation", 500), ("test", 500))}
  vocab = task_vocab(task, vocab_size)

  @functools.cache
  def load(split: str) -> ArraySource:
    rng = np.random.default_rng([seed, _SPLIT_INDEX[split]])
    srcs, tgts = generate(task, sizes[split], vocab_size=vocab_size, min_len=lens[split][0], max_len=lens[split][1],
                          rng=rng)
    return ArraySource({
        "src": ragged(srcs), "tgt": ragged(tgts),
        "src_text": ragged([vocab.decode(s) for s in srcs]), "tgt_text": ragged([vocab.decode(t) for t in tgts]),
        "id": ragged([f"{split}.{i}" for i in range(len(srcs))]),
    })

  longest_src = 2 * max(hi for _, hi in lens.values()) + 1 if task == "addition" else max(hi for _, hi in lens.values())
  longest_tgt = max(hi for _, hi in lens.values()) + 1 if task == "addition" else longest_src
  collate = PadCollate(pad_multiple=int(cfg.get("pad_multiple", 1)),
                       bucket_boundaries=tuple(int(b) for b in (cfg.get("bucket_boundaries") or ())))
  info = {
      "src_vocab": vocab, "tgt_vocab": vocab, "src_vocab_size": vocab.size, "tgt_vocab_size": vocab.size,
      "vocab_size": vocab.size, "pad_id": PAD_ID, "bos_id": BOS_ID, "eos_id": EOS_ID,
      "max_len": max(longest_src, longest_tgt), "max_target_len": longest_tgt, "task": task,
      "max_padded_len": collate.padded_length(max(longest_src, longest_tgt + 1)),
  }
  return Dataset(splits={s: functools.partial(load, s) for s in sizes if sizes[s] > 0}, info=info, collate=collate)
