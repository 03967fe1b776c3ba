"""Official TFDS text datasets by name, for users with internet: labelled (`tfds_text`) and unlabeled (`tfds_corpus`).

  config.dataset.name = 'tfds_text'
  config.dataset.tfds_name = 'imdb_reviews'      # any TFDS dataset with a text and an integer label feature
  config.dataset.text_key, label_key = 'text', 'label'
  config.dataset.download = True                 # fetch and prepare it (array_record) into --data_dir once

The prepared copy in the data dir is preferred; without one and without internet the run stops with one
`error:` line. `tfds_text` splits: the dataset's own `train` and `test`; its `validation` when it has one, otherwise
`validation_percent` (default 10) of `train` chosen by a hash of the example's index, so the carve-out never
changes. Splits whose labels are negative (imdb_reviews' `unsupervised`) are left out. Tokenization, vocabulary
and batching are those of the other classification datasets (research/data/text.py: `tokenizer`, `vocab_size`,
`max_len`, `train_limit`, `eval_limit`).

  config.dataset.name = 'tfds_corpus'
  config.dataset.tfds_name = 'lm1b'              # any TFDS dataset with a text feature: lm1b, wikipedia/..., imdb_reviews
  config.dataset.text_key = 'text'
  config.dataset.format = 'windows'              # or 'sentence_pairs' (BERT): research/data/text.py's corpora

`tfds_corpus` treats every example as one document (blank-line separated paragraphs; a one-line example such as
an lm1b sentence is one paragraph) and keeps the dataset's own `validation` / `test` splits; documents of every
other split (train, imdb_reviews' unsupervised, ...) go to train, or to validation / test by a hash of the
document (`validation_percent`, `test_percent`, default 5) for the splits the dataset lacks. `max_documents`
(> 0) reads only the first N examples of every split (Wikipedia is 6 M articles).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ml_collections import ConfigDict

from research import registry
from research.data.base import Dataset, load_columns, split_of
from research.data.text import _classification_dataset, _corpus_dataset, _limit, _percents, paragraphs
from research.data.translation import official_builder
from research.errors import UserError


def _decode(v: Any) -> str:
  return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def classification_rows(builder: Any, text_key: str, label_key: str,
                        validation_percent: int) -> dict[str, list[dict[str, Any]]]:
  """A prepared builder → {'train', 'validation', 'test'}: lists of {'text': str, 'label': int}."""
  out: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
  has_validation = "validation" in builder.info.splits
  for split in builder.info.splits:
    cols = load_columns(builder.as_data_source(split=split)).columns
    if text_key not in cols or label_key not in cols:
      raise UserError(f"{builder.name} has features {sorted(cols)}; set config.dataset.text_key/label_key to "
                      "its text and label features")
    labels = np.asarray(cols[label_key]).astype(np.int64)
    if labels.size and labels.min() < 0:
      continue  # unlabeled split (imdb_reviews' 'unsupervised')
    for i, (text, label) in enumerate(zip(cols[text_key], labels, strict=True)):
      target = split
      if split == "train" and not has_validation:
        target = "validation" if split_of(f"train/{i}", validation_percent, 0) == "validation" else "train"
      if target in out:
        out[target].append({"text": _decode(text), "label": int(label)})
  return out


@registry.datasets.register("tfds_text")
def tfds_text(cfg: ConfigDict, data_dir: str) -> Dataset:
  name = cfg.get("tfds_name", "imdb_reviews")
  builder = official_builder(name, data_dir, bool(cfg.get("download", True)))
  label_key = cfg.get("label_key", "label")
  rows = classification_rows(builder, cfg.get("text_key", "text"), label_key, int(cfg.get("validation_percent", 10)))
  if not rows["test"]:
    raise UserError(f"{name} has no labelled 'test' split; choose a dataset with train and test splits")
  splits = {s: _limit(cfg, s, r) for s, r in rows.items()}
  dataset = _classification_dataset(cfg, splits, lambda: [r["text"] for r in splits["train"]], pairs=False)
  feature = builder.info.features[label_key]
  dataset.info["num_classes"] = int(getattr(feature, "num_classes", None) or 1 + max(r["label"] for r in rows["train"]))
  return dataset


@registry.datasets.register("tfds_corpus")
def tfds_corpus(cfg: ConfigDict, data_dir: str) -> Dataset:
  name = cfg.get("tfds_name", "lm1b")
  builder = official_builder(name, data_dir, bool(cfg.get("download", True)))
  text_key = cfg.get("text_key", "text")
  limit = int(cfg.get("max_documents", 0))
  official = set(builder.info.splits)
  v, t = _percents(cfg, 5)
  # A split the dataset has is kept whole; only the missing ones are carved out of train by hash.
  v, t = (0 if "validation" in official else v), (0 if "test" in official else t)
  documents: dict[str, list[str]] = {}
  doc_split: dict[str, str] = {}
  for split in builder.info.splits:
    source = builder.as_data_source(split=split)
    n = len(source) if not limit else min(len(source), limit)
    cols = load_columns(source if n == len(source) else [source[i] for i in range(n)]).columns
    if text_key not in cols:
      raise UserError(f"{name} has features {sorted(cols)}; set config.dataset.text_key to its text feature")
    for i, text in enumerate(cols[text_key]):
      doc = f"{split}/{i}"
      documents[doc] = paragraphs(_decode(text).splitlines())
      doc_split[doc] = split if split in ("validation", "test") else split_of(doc, v, t)
  if not documents:
    raise UserError(f"{name} has no examples; check config.dataset.tfds_name")
  return _corpus_dataset(cfg, documents, doc_split)
