"""Topic model measures: top-word tables, held-out perplexity by document completion, UMass and NPMI coherence."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
import scipy.sparse as sp


def top_word_ids(components: np.ndarray, n: int = 10) -> np.ndarray:
  """Indices of the n most probable words of each topic, most probable first: int[K, n]."""
  return np.argsort(-np.asarray(components), axis=1, kind="stable")[:, :n]


def top_words_table(components: np.ndarray, vocabulary: Sequence[str], n: int = 10, label_column: bool = True,
                    weights: np.ndarray | None = None) -> str:
  """Markdown table: one row per topic with its n top words; `label` is left empty for a reader to fill in.

  components: float[K, V] topic–word probabilities; weights: optional float[K] shown as the topic's share.
  """
  ids = top_word_ids(components, n)
  head = ["topic"] + (["share"] if weights is not None else []) + (["label"] if label_column else []) + ["top words"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for k, row in enumerate(ids):
    cells = [str(k)] + ([f"{weights[k]:.3f}"] if weights is not None else []) + ([""] if label_column else [])
    cells.append(", ".join(vocabulary[i] for i in row))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def document_completion(model, X, seed: int = 0) -> dict[str, float]:
  """Held-out perplexity by document completion (Wallach et al. 2009, "estimated theta" variant).

  Each document of X (int[D, V], documents with < 2 tokens skipped) has its tokens split at random into an observed
  half and a held-out half. theta is inferred from the observed half by fold-in Gibbs with the model's topics fixed,
  then the held-out half is scored: log p = sum_tokens log sum_k theta_dk phi_kw.
  Returns {'perplexity': exp(-log p / N_heldout), 'loglik_per_token': log p / N_heldout, 'heldout_tokens': N}.
  """
  from research.lda.estimator import fold_in_theta
  from research.lda.sampler import tokens_from_counts
  X = sp.csr_matrix(X)
  rng = np.random.default_rng(seed)
  doc_of, word_of = tokens_from_counts(X)
  lengths = np.bincount(doc_of, minlength=X.shape[0])
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
  # A random half of each document's tokens (rank within the document < length // 2) is observed.
  rank = np.empty(len(doc_of), np.int64)
  perm = rng.permutation(len(doc_of))
  order = np.lexsort((perm, doc_of))
  rank[order] = np.arange(len(doc_of)) - starts[doc_of[order]]
  usable = lengths[doc_of] >= 2
  observed = usable & (rank < lengths[doc_of] // 2)
  heldout = usable & ~observed
  shape = X.shape
  obs = sp.csr_matrix((np.ones(observed.sum()), (doc_of[observed], word_of[observed])), shape=shape)
  obs.sum_duplicates()
  theta = fold_in_theta(obs, model.components_, model.alpha_, model.sampler, model.transform_iterations,
                        jax.random.PRNGKey(seed))
  p = np.einsum("nk,kn->n", theta[doc_of[heldout]], model.components_[:, word_of[heldout]])
  loglik = float(np.log(p).sum())
  n = int(heldout.sum())
  return {"perplexity": float(np.exp(-loglik / n)), "loglik_per_token": loglik / n, "heldout_tokens": n}


def _doc_frequencies(X, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
  """Document frequency of each word in `ids` (int[n]) and of each pair: (float[n], float[n, n], D)."""
  B = (sp.csc_matrix(X)[:, ids] > 0).astype(np.float64)
  co = np.asarray((B.T @ B).todense())
  return np.diag(co).copy(), co, X.shape[0]


def coherence(components: np.ndarray, X, n: int = 10) -> dict[str, np.ndarray]:
  """UMass and NPMI coherence of each topic's n top words, from document co-occurrence in X (int[D, V]).

  UMass (Mimno et al. 2011): mean over ordered pairs (i ranked above j) of log((D(w_i, w_j) + 1) / D(w_i)).
  NPMI (Bouma 2009; Aletras & Stevenson 2013): mean over pairs of log(P(i,j) / (P(i) P(j))) / -log P(i,j) with
  document probabilities, -1 for pairs that never co-occur. Both are means over the n(n-1)/2 pairs, so they
  compare across n. Returns {'umass': float[K], 'npmi': float[K]}; average over topics for one number.
  """
  X = sp.csr_matrix(X)
  ids = top_word_ids(components, n)
  umass, npmi = [], []
  for row in ids:
    df, co, d = _doc_frequencies(X, row)
    u, m = [], []
    for a in range(1, len(row)):
      for b in range(a):
        # UMass conditions the lower-ranked word a on the higher-ranked word b; words absent from X would make
        # D(w_b) = 0, so they count as one document (they only occur in the model's vocabulary).
        u.append(np.log((co[a, b] + 1.0) / max(df[b], 1.0)))
        if co[a, b] == 0:
          m.append(-1.0)
        else:
          pij, pi, pj = co[a, b] / d, df[a] / d, df[b] / d
          m.append(1.0 if pij == 1.0 else np.log(pij / (pi * pj)) / -np.log(pij))
    umass.append(np.mean(u))
    npmi.append(np.mean(m))
  return {"umass": np.asarray(umass), "npmi": np.asarray(npmi)}
