"""Sampler correctness: count invariants, the exact posterior of a tiny corpus, the `lda` package's log-likelihood, bars."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats
from scipy.optimize import linear_sum_assignment

from research.lda import GibbsLDA, synthetic
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


# K = 50 exceeds S.UNROLL_MAX_TOPICS, so it runs the fori_loop draw instead of the unrolled one.
@pytest.mark.parametrize("sampler,num_chunks,k", [("exact", 1, 4), ("parallel", 1, 4), ("parallel", 3, 4),
                                                  ("parallel", 2, 50)])
def test_count_invariants_after_every_sweep(sampler, num_chunks, k):
  X = np.random.default_rng(0).poisson(0.6, size=(12, 30))
  X[3] = 0   # an empty document must not break anything
  _run_chain(X, k, sampler, 8, check=lambda st, lay: assert_count_invariants(st, lay, X, k), num_chunks=num_chunks)


def test_unrolled_and_looped_draws_invert_the_cumulative_weights(monkeypatch):
  # Both draw paths must pick topic k exactly when cum_{k-1} <= u * total < cum_k (numpy reference).
  rng = np.random.default_rng(0)
  k = 60
  w = jnp.asarray(rng.gamma(0.5, size=(k, 1000)).astype(np.float32))
  u = jnp.asarray(rng.uniform(size=1000).astype(np.float32))
  z = jnp.asarray(rng.integers(0, k, 1000).astype(np.int32))
  weight = lambda j, own: w[j] * (1.0 + own)  # noqa: E731
  cum = np.cumsum(np.asarray(w) * (1.0 + (np.arange(k)[:, None] == np.asarray(z))), axis=0, dtype=np.float32)
  want = np.minimum((cum < np.asarray(u) * cum[-1]).sum(0), k - 1)
  looped = np.asarray(jax.jit(lambda: S._draw_vectorized(u, z, k, weight))())
  monkeypatch.setattr(S, "UNROLL_MAX_TOPICS", 1000)
  unrolled = np.asarray(jax.jit(lambda: S._draw_vectorized(u, z, k, weight))())
  # float32 sums in a different order may flip a draw sitting exactly on a boundary; allow a handful.
  assert (looped != want).sum() <= 3 and (unrolled != want).sum() <= 3


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
  lda_cython = pytest.importorskip("lda._lda")
  X = synthetic.bars_corpus(num_docs=60, doc_length=40, seed=3)[0]
  # 1) the lda package's own fitted counts, scored by both implementations
  ref = lda.LDA(n_topics=10, n_iter=20, alpha=0.3, eta=0.05, random_state=0, refresh=1000).fit(X)
  ours = S.joint_log_likelihood(ref.nzw_, ref.ndz_, 0.3, 0.05)
  np.testing.assert_allclose(ours, ref.loglikelihood(), rtol=1e-10)
  # 2) our sampler's counts, scored by the lda package's Cython routine
  m = GibbsLDA(10, alpha=0.3, beta=0.05, num_iterations=5, sampler="parallel", log_every=5).fit(X)
  nzw = np.asfortranarray(m.n_kw_.astype(np.intc))
  ndz = np.ascontiguousarray(m.n_dk_.astype(np.intc))
  want = lda_cython._loglikelihood(nzw, ndz, nzw.sum(1).astype(np.intc), ndz.sum(1).astype(np.intc), 0.3, 0.05)
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
