"""Synthetic corpora with known topics: Griffiths & Steyvers "bars" and a generic LDA-generated corpus."""

from __future__ import annotations

import numpy as np


def bar_topics(side: int = 5) -> np.ndarray:
  """The 2·side bar topics on a side×side pixel grid: float64[2·side, side²], each uniform over one row or column.

  Topics 0..side-1 are horizontal bars (rows), side..2·side-1 vertical bars (columns).
  """
  topics = np.zeros((2 * side, side, side))
  for i in range(side):
    topics[i, i, :] = 1.0
    topics[side + i, :, i] = 1.0
  return topics.reshape(2 * side, side * side) / side


def lda_corpus(topics: np.ndarray, num_docs: int, doc_length: int, alpha: float, seed: int,
               poisson_length: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """Samples documents from the LDA generative process with the given topics.

  topics: float[K, V] rows summing to 1. Each document draws theta ~ Dir(alpha·1), then `doc_length` words
  (Poisson(doc_length) words if `poisson_length`). Returns (counts int64[num_docs, V], theta float64[num_docs, K]).
  """
  rng = np.random.default_rng(seed)
  k, v = topics.shape
  theta = rng.dirichlet(np.full(k, alpha), size=num_docs)
  lengths = rng.poisson(doc_length, num_docs) if poisson_length else np.full(num_docs, doc_length)
  counts = np.zeros((num_docs, v), np.int64)
  for d in range(num_docs):
    counts[d] = rng.multinomial(lengths[d], theta[d] @ topics)
  return counts, theta


def bars_corpus(num_docs: int = 500, doc_length: int = 100, alpha: float = 1.0, seed: int = 0,
                side: int = 5) -> tuple[np.ndarray, np.ndarray]:
  """Griffiths & Steyvers (2004) bars data: (counts int64[num_docs, side²], true topics float64[2·side, side²])."""
  topics = bar_topics(side)
  counts, _ = lda_corpus(topics, num_docs, doc_length, alpha, seed)
  return counts, topics


def benchmark_corpus(num_docs: int = 2000, vocab_size: int = 5000, num_topics: int = 20, doc_length: int = 152,
                     seed: int = 0) -> np.ndarray:
  """The benchmark's synthetic corpus (about num_docs·doc_length tokens): counts int64[num_docs, vocab_size].

  Topics are Dir(0.05) over the vocabulary, documents Dir(0.1) over topics, lengths Poisson(doc_length).
  """
  rng = np.random.default_rng(seed)
  topics = rng.dirichlet(np.full(vocab_size, 0.05), size=num_topics)
  counts, _ = lda_corpus(topics, num_docs, doc_length, alpha=0.1, seed=seed + 1, poisson_length=True)
  return counts
