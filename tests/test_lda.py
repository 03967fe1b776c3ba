"""Correctness tests for research.lda: samplers, log-likelihood, estimator API, measures, vocabulary pipeline."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats
from scipy.optimize import linear_sum_assignment

from research.errors import UserError
from research.lda import GibbsLDA, LDAInputError, metrics, synthetic, text
from research.lda import sampler as S


def _run_chain(X, num_topics, sampler, num_sweeps, alpha=0.5, beta=0.5, seed=0, check=None, num_chunks=1):
  """Runs `num_sweeps` sweeps, calling check(state, layout) after each."""
  d, w = S.tokens_from_counts(sp.csr_matrix(X))
  layout = S.make_layout(d, w, X.shape[0], X.shape[1], 1, num_chunks=num_chunks)
  state = S.init_state(layout, num_topics, jax.random.PRNGKey(seed))
  sweep = S.make_sweep(sampler, layout)
  a = jnp.full((num_topics,), alpha, jnp.float32)
  b = jnp.full((X.shape[1],), beta, jnp.float32)
  for i in range(num_sweeps):
    state = sweep(state, jax.random.PRNGKey(1000), np.int32(i), a, b)
    if check is not None:
      check(state, layout)
  return state, layout


def assert_count_invariants(state: S.SamplerState, layout: S.TokenLayout, X: np.ndarray, num_topics: int):
  """n_dk rows = document lengths, n_kw columns = word counts, n_kw rows = n_k, total = N, counts match z."""
  X = np.asarray(X)
  n_dk = layout.gather_docs(np.asarray(state.n_dk))
  n_kw, n_k, z = np.asarray(state.n_kw), np.asarray(state.n_k), np.asarray(state.z)
  np.testing.assert_array_equal(n_dk.sum(1), X.sum(1))
  np.testing.assert_array_equal(n_kw.sum(0), X.sum(0))
  np.testing.assert_array_equal(n_kw.sum(1), n_k)
  assert n_k.sum() == X.sum() == n_dk.sum()
  assert n_dk.min() >= 0 and n_kw.min() >= 0
  assert z[layout.mask].min() >= 0 and z[layout.mask].max() < num_topics
  # Counts rebuilt from the assignments agree with the ones the sampler carried.
  for s in range(layout.num_blocks):
    m = layout.mask[s]
    want_dk = np.zeros_like(np.asarray(state.n_dk[s]))
    np.add.at(want_dk, (layout.docs[s][m], z[s][m]), 1)
    np.testing.assert_array_equal(np.asarray(state.n_dk[s]), want_dk)
  want_kw = np.zeros_like(n_kw)
  np.add.at(want_kw, (z[layout.mask], layout.words[layout.mask]), 1)
  np.testing.assert_array_equal(n_kw, want_kw)


@pytest.mark.parametrize("sampler,num_chunks", [("exact", 1), ("parallel", 1), ("parallel", 3)])
def test_count_invariants_after_every_sweep(sampler, num_chunks):
  X = np.random.default_rng(0).poisson(0.6, size=(12, 30))
  X[3] = 0   # an empty document must not break anything
  _run_chain(X, 4, sampler, 8, check=lambda st, lay: assert_count_invariants(st, lay, X, 4), num_chunks=num_chunks)


def _enumerated_posterior(X, num_topics, alpha, beta):
  """Exact p(z | w) over all K^N assignments of a tiny corpus, via the collapsed joint likelihood."""
  d, w = S.tokens_from_counts(sp.csr_matrix(X))
  configs = np.array(list(itertools.product(range(num_topics), repeat=len(d))))
  logp = []
  for z in configs:
    n_dk = np.zeros((X.shape[0], num_topics))
    n_kw = np.zeros((num_topics, X.shape[1]))
    np.add.at(n_dk, (d, z), 1)
    np.add.at(n_kw, (z, w), 1)
    logp.append(S.joint_log_likelihood(n_kw, n_dk, alpha, beta))
  logp = np.array(logp)
  p = np.exp(logp - logp.max())
  return configs, p / p.sum()


def test_exact_sampler_matches_enumerated_posterior():
  # 2 documents, 6 tokens, K = 2: 64 assignments, few enough to enumerate p(z | w) exactly.
  X = np.array([[2, 1, 0], [0, 1, 2]])
  alpha, beta, k = 0.5, 0.3, 2
  configs, posterior = _enumerated_posterior(X, k, alpha, beta)
  d, w = S.tokens_from_counts(sp.csr_matrix(X))
  layout = S.make_layout(d, w, 2, 3, 1)
  sweep = S.make_sweep("exact", layout)
  a, b = jnp.full((k,), alpha, jnp.float32), jnp.full((3,), beta, jnp.float32)

  def chain(state, key, num_sweeps):
    def step(st, i):
      st = sweep(st, key, i, a, b)
      return st, st.z[0]
    return jax.lax.scan(step, state, jnp.arange(num_sweeps, dtype=jnp.int32))[1]

  num_sweeps, thin = 30000, 3
  chain = jax.jit(chain, static_argnums=2)
  zs = np.asarray(chain(S.init_state(layout, k, jax.random.PRNGKey(0)), jax.random.PRNGKey(1), num_sweeps))
  zs = zs[1000::thin][:, layout.mask[0]]   # drop burn-in; thinning weakens the (small) autocorrelation the chi-square test ignores
  index = (zs * (k ** np.arange(len(d))[::-1])).sum(1)   # configs are in itertools.product (base-k) order
  observed = np.bincount(index, minlength=len(configs))
  expected = posterior * len(zs)
  big = expected >= 5   # pool rare assignments so the chi-square approximation holds
  obs = np.append(observed[big], observed[~big].sum())
  exp = np.append(expected[big], expected[~big].sum())
  _, p_value = stats.chisquare(obs, exp)
  assert p_value > 1e-3, (p_value, obs, exp)
  # And the per-token marginals p(z_i = 1) agree to within 3 standard errors of the chain average.
  marg_true = (configs * posterior[:, None]).sum(0)
  np.testing.assert_allclose(zs.mean(0), marg_true, atol=3 * np.sqrt(0.25 / len(zs)) * 3)


def test_loglikelihood_matches_lda_package():
  lda = pytest.importorskip("lda")
  import lda._lda
  X = synthetic.bars_corpus(num_docs=60, doc_length=40, seed=3)[0]
  # 1) the lda package's own fitted counts, scored by both implementations
  ref = lda.LDA(n_topics=10, n_iter=20, alpha=0.3, eta=0.05, random_state=0, refresh=1000).fit(X)
  ours = S.joint_log_likelihood(ref.nzw_, ref.ndz_, 0.3, 0.05)
  np.testing.assert_allclose(ours, ref.loglikelihood(), rtol=1e-10)
  # 2) our sampler's counts, scored by the lda package's Cython routine
  m = GibbsLDA(10, alpha=0.3, beta=0.05, num_iterations=5, sampler="parallel", log_every=5).fit(X)
  nzw = np.asfortranarray(m.n_kw_.astype(np.intc))
  ndz = np.ascontiguousarray(m.n_dk_.astype(np.intc))
  want = lda._lda._loglikelihood(nzw, ndz, nzw.sum(1).astype(np.intc), ndz.sum(1).astype(np.intc), 0.3, 0.05)
  np.testing.assert_allclose(m.loglikelihoods_[-1], want, rtol=1e-10)


def _bars_l1(components, true_topics):
  cost = np.abs(components[:, None, :] - true_topics[None]).sum(-1)
  rows, cols = linear_sum_assignment(cost)
  return cost[rows, cols]


# Two distinct bars are >= 1.6 apart in L1 (crossing bars share one of their 5 pixels: 4·0.2 + 4·0.2), so a
# recovered topic within 0.5 of its matched bar is at least 1.1 from every other bar: the match is unambiguous.
# Sampling noise of a 5-pixel topic estimated from ~3,000 tokens is ~0.03 in L1, far below the threshold.
BARS_L1_THRESHOLD = 0.5


@pytest.mark.parametrize("sampler,num_docs,iters", [("parallel", 300, 300), ("exact", 300, 300)])
def test_bars_recovered(sampler, num_docs, iters):
  X, topics = synthetic.bars_corpus(num_docs=num_docs, doc_length=100, alpha=1.0, seed=0)
  m = GibbsLDA(10, alpha=1.0, beta=0.01, num_iterations=iters, sampler=sampler, seed=0, log_every=iters).fit(X)
  l1 = _bars_l1(m.components_, topics)
  assert l1.max() < BARS_L1_THRESHOLD, l1
  np.testing.assert_allclose(m.doc_topic_.sum(1), 1.0, rtol=1e-6)


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
  # GridSearchCV on the estimator alone uses its score (held-out log-likelihood per token by completion).
  alone = GridSearchCV(GibbsLDA(num_iterations=30, transform_iterations=10), {"num_topics": [2, 10]}, cv=2)
  alone.fit(X)
  assert np.isfinite(alone.best_score_) and alone.best_score_ < 0
  assert alone.best_params_["num_topics"] == 10   # the bars have 10 topics; 2 fit held-out words much worse


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


def test_minka_fixed_point_recovers_generating_alpha():
  # Documents whose topic counts are drawn from a Dirichlet-multinomial with known asymmetric alpha.
  rng = np.random.default_rng(0)
  true = np.array([0.2, 0.5, 1.0, 2.0])
  n_dk = np.stack([rng.multinomial(200, rng.dirichlet(true)) for _ in range(3000)])
  est = S.minka_alpha(n_dk, np.ones(4), num_steps=200)
  np.testing.assert_allclose(est, true, rtol=0.1)
  # beta: symmetric concentration from topic-word counts drawn with beta = 0.05 over 200 words
  n_kw = np.stack([rng.multinomial(5000, rng.dirichlet(np.full(200, 0.05))) for _ in range(50)])
  np.testing.assert_allclose(S.minka_beta(n_kw, np.full(200, 1.0), num_steps=300), 0.05, rtol=0.15)


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
