"""GibbsLDA as an sklearn estimator: fold-in, Pipeline/clone/GridSearchCV, input validation, priors, measures,
vocabulary pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from research.errors import UserError
from research.lda import GibbsLDA, LDAInputError, metrics, synthetic, text


def test_transform_fold_in_recovers_mixture():
  X, topics = synthetic.bars_corpus(num_docs=300, doc_length=100, alpha=1.0, seed=0)
  m = GibbsLDA(10, alpha=1.0, beta=0.01, num_iterations=200, seed=0, log_every=200).fit(X)
  # New documents drawn from exactly one bar each: fold-in must put most mass on the matching topic.
  rows, cols = linear_sum_assignment(np.abs(m.components_[:, None] - topics[None]).sum(-1))
  topic_of_bar = dict(zip(cols, rows, strict=True))
  new = np.stack([np.random.default_rng(b).multinomial(80, topics[b]) for b in range(10)])
  for sampler in ("parallel", "exact"):
    theta = m.set_params(sampler=sampler).transform(new)
    assert theta.shape == (10, 10)
    np.testing.assert_allclose(theta.sum(1), 1.0, rtol=1e-6)
    assert all(theta[b, topic_of_bar[b]] > 0.8 for b in range(10)), theta.round(2)
  empty = m.transform(np.zeros((2, 25), int))
  np.testing.assert_allclose(empty, 0.1)


def test_sklearn_pipeline_clone_gridsearch():
  from sklearn.base import clone
  from sklearn.linear_model import LogisticRegression
  from sklearn.model_selection import GridSearchCV
  from sklearn.pipeline import Pipeline
  X, topics = synthetic.bars_corpus(num_docs=120, doc_length=60, alpha=0.2, seed=1)
  y = (X[:, 0:5].sum(1) > 12).astype(int)   # "does the first row bar appear a lot": learnable from topics
  est = GibbsLDA(num_topics=10, alpha=np.full(10, 0.5), num_iterations=30, seed=0)
  c = clone(est)
  assert c.get_params()["num_iterations"] == 30 and c is not est
  assert not hasattr(c, "components_")
  pipe = Pipeline([("lda", GibbsLDA(num_topics=10, num_iterations=30, transform_iterations=10, seed=0)),
                   ("clf", LogisticRegression(max_iter=500))])
  # A grid over alpha keeps K (and so the compiled sweeps) fixed, which keeps the test fast.
  search = GridSearchCV(pipe, {"lda__alpha": [0.1, 1.0]}, cv=2)
  search.fit(sp.csr_matrix(X), y)
  assert search.best_params_["lda__alpha"] in (0.1, 1.0)
  assert 0.0 <= search.score(X, y) <= 1.0
  # score() (held-out log-likelihood per token by document completion) is what GridSearchCV uses on the estimator
  # alone: the 10-topic model must beat a 2-topic one on held-out bars.
  scores = {k: GibbsLDA(k, num_iterations=30, transform_iterations=10).fit(X[:80]).score(X[80:]) for k in (2, 10)}
  assert np.isfinite(scores[2]) and scores[10] > scores[2], scores


@pytest.mark.parametrize("bad,match", [
    (np.zeros((3, 4), int), "no tokens"),
    (np.array([[1, -1], [2, 0]]), "negative"),
    (np.array([[0.5, 1.0]]), "non-integer"),
    (np.zeros((0, 5), int), "empty"),
    (np.array([1, 2, 3]), "2-D"),
    (np.array([[np.nan, 1.0]]), "NaN"),
])
def test_bad_input_raises_clear_errors(bad, match):
  with pytest.raises(LDAInputError, match=match) as e:
    GibbsLDA(num_topics=2, num_iterations=1).fit(bad)
  assert isinstance(e.value, ValueError) and isinstance(e.value, UserError)


@pytest.mark.parametrize("params,match", [
    ({"num_topics": 1}, "num_topics"), ({"sampler": "gibbs"}, "sampler"), ({"alpha": -1.0}, "alpha"),
    ({"alpha": [0.1, 0.2]}, "alpha"), ({"burn_in": 5, "num_iterations": 5}, "burn_in"),
])
def test_bad_params_raise_in_fit_not_init(params, match):
  est = GibbsLDA(**params)   # sklearn rule: __init__ stores, fit validates
  with pytest.raises(LDAInputError, match=match):
    est.fit(np.ones((3, 4), int))


def test_transform_rejects_wrong_vocabulary_size():
  m = GibbsLDA(2, num_iterations=2).fit(np.ones((3, 4), int))
  with pytest.raises(LDAInputError, match="vocabulary columns"):
    m.transform(np.ones((2, 5), int))


def test_same_seed_same_chain_and_asymmetric_priors():
  X = synthetic.bars_corpus(num_docs=40, doc_length=30, seed=2)[0]
  kw = dict(num_topics=10, alpha=np.linspace(0.1, 1.0, 10), beta=np.full(25, 0.05), num_iterations=10, seed=7)
  a, b = GibbsLDA(**kw).fit(X), GibbsLDA(**kw).fit(X)
  np.testing.assert_array_equal(a.n_kw_, b.n_kw_)
  assert a.loglikelihoods_ == b.loglikelihoods_
  c = GibbsLDA(**{**kw, "seed": 8}).fit(X)
  assert not np.array_equal(a.n_kw_, c.n_kw_)


def test_hyperparameter_optimization_runs_in_fit():
  X = synthetic.bars_corpus(num_docs=100, doc_length=50, alpha=0.3, seed=4)[0]
  m = GibbsLDA(10, alpha=1.0, beta=1.0, num_iterations=60, optimize_alpha=True, optimize_beta=True,
               optimize_interval=10, seed=0).fit(X)
  assert m.alpha_.shape == (10,) and m.beta_.shape == (25,)
  assert m.beta_.mean() < 0.5   # bars are sparse over pixels: the fitted beta moves far below the start value 1.0


def test_burn_in_and_thinning_average_samples():
  X = synthetic.bars_corpus(num_docs=50, doc_length=40, seed=5)[0]
  last = GibbsLDA(10, num_iterations=20, burn_in=19, seed=0).fit(X)
  want = (last.n_kw_ + 0.01) / (last.n_kw_ + 0.01).sum(1, keepdims=True)
  np.testing.assert_allclose(last.components_, want, rtol=1e-6)   # one sample after burn-in = final state
  avg = GibbsLDA(10, num_iterations=20, burn_in=10, thin=5, seed=0).fit(X)
  np.testing.assert_array_equal(avg.n_kw_, last.n_kw_)   # same chain...
  assert not np.allclose(avg.components_, want)           # ...but the estimate averages sweeps 15 and 20


def test_perplexity_and_coherence():
  X, topics = synthetic.bars_corpus(num_docs=300, doc_length=100, alpha=1.0, seed=0)
  good = GibbsLDA(10, alpha=1.0, num_iterations=150, seed=0, log_every=150).fit(X)
  bad = GibbsLDA(10, alpha=1.0, num_iterations=1, burn_in=0, seed=0).fit(X)
  test = synthetic.bars_corpus(num_docs=60, doc_length=100, alpha=1.0, seed=9)[0]
  p_good, p_bad = good.perplexity(test), bad.perplexity(test)
  # 25 pixels: a uniform model has perplexity 25; the true model about exp(entropy) of a bar mixture (< 25).
  assert p_good < p_bad <= 25.5, (p_good, p_bad)
  c_true, c_bad = metrics.coherence(topics, X, n=5), metrics.coherence(bad.components_, X, n=5)
  assert c_true["npmi"].mean() > c_bad["npmi"].mean()
  assert c_true["umass"].mean() > c_bad["umass"].mean()


def test_coherence_hand_computed():
  # 4 documents over words a, b, c. Topic top words (a, b): D(a)=3, D(b)=2, D(a,b)=2.
  X = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 0, 1]])
  comp = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
  c = metrics.coherence(comp, X, n=2)
  np.testing.assert_allclose(c["umass"][0], np.log((2 + 1) / 3))
  pij, pi, pj = 2 / 4, 2 / 4, 3 / 4
  np.testing.assert_allclose(c["npmi"][0], np.log(pij / (pi * pj)) / -np.log(pij))
  np.testing.assert_allclose(c["npmi"][1], -1.0)   # (c, b) never co-occur


def test_top_words_table():
  comp = np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
  table = metrics.top_words_table(comp, ["apple", "bank", "cat"], n=2)
  lines = table.splitlines()
  assert lines[0] == "| topic | label | top words |"
  assert lines[2] == "| 0 |  | bank, cat |" and lines[3] == "| 1 |  | apple, cat |"


def test_vocabulary_pipeline():
  docs = ["The bank raised rates; the BANK's rates rose.", "Rates and banks: bank rates!", "A cat sat."]
  v = text.Vocabulary(min_df=2, max_df=1.0)
  X = v.fit_transform(docs)
  assert v.words == ["bank", "rates"]   # stopwords dropped, min_df=2 removes cat/sat/raised/...
  np.testing.assert_array_equal(X.toarray(), [[2, 2], [1, 2], [0, 0]])
  assert text.tokenize("Don't stop 2 believing! Bob’s") == ["don't", "stop", "believing", "bob"]
  with pytest.raises(UserError, match="min_df"):
    text.Vocabulary(min_df=10).fit(docs)
