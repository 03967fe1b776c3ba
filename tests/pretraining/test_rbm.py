"""RBM: energies against brute force, CD gradients against the exact gradient, PL against scikit-learn, AIS
against exact log Z."""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM

from research.errors import UserError
from research.pretraining import rbm


def _random_params(config: rbm.RBMConfig, key, scale=0.5):
  kw, kv, kh = jax.random.split(key, 3)
  params = {"w": scale * jax.random.normal(kw, (config.num_visible, config.num_hidden)),
            "b_v": scale * jax.random.normal(kv, (config.num_visible,)),
            "b_h": scale * jax.random.normal(kh, (config.num_hidden,))}
  if config.learn_sigma:
    params["log_sigma"] = 0.2 * jax.random.normal(jax.random.fold_in(key, 9), (config.num_visible,))
  return params


def _binary_data(key, n, v, p=0.3):
  return jax.random.bernoulli(key, p, (n, v)).astype(jnp.float32)


def _all_states(n):
  return np.array(list(itertools.product([0.0, 1.0], repeat=n)), np.float32)


def _bernoulli_energy(params, v, h):
  return -(v @ params["b_v"]) - (h @ params["b_h"]) - jnp.einsum("bi,ij,bj->b", v, params["w"], h)


@pytest.fixture(scope="module")
def tiny():
  config = rbm.RBMConfig(num_visible=6, num_hidden=4)
  return config, _random_params(config, jax.random.key(0))


def test_shapes_and_ranges():
  for config in (rbm.RBMConfig(num_visible=7, num_hidden=5),
                 rbm.RBMConfig(kind="gaussian", num_visible=7, num_hidden=5, learn_sigma=True)):
    params = rbm.init_params(config, jax.random.key(0))
    v = jax.random.uniform(jax.random.key(1), (3, 7))
    assert rbm.free_energy(config, params, v).shape == (3,)
    h, ph = rbm.sample_h_given_v(params, v, jax.random.key(2))
    assert h.shape == ph.shape == (3, 5)
    assert set(np.unique(np.asarray(h))) <= {0.0, 1.0}
    assert np.all((np.asarray(ph) > 0) & (np.asarray(ph) < 1))
    v2, mean = rbm.sample_v_given_h(config, params, h, jax.random.key(3))
    assert v2.shape == mean.shape == (3, 7)
    assert rbm.gibbs_step(config, params, v, jax.random.key(4)).shape == (3, 7)
    np.testing.assert_allclose(rbm.transform(params, v), ph)
    layer = rbm.encoder_layer(params)
    assert layer["kernel"].shape == (7, 5) and layer["bias"].shape == (5,)
    # a Dense layer built from encoder_layer computes the same p(h|v), σ folded in for Gaussian visibles
    np.testing.assert_allclose(jax.nn.sigmoid(v @ layer["kernel"] + layer["bias"]), ph, rtol=1e-5, atol=1e-6)


def test_fused_uniform_is_bit_identical_to_jax_random():
  for seed, shape in ((0, (10, 784)), (1, (7,)), (2, (3, 5, 2))):
    key = jax.random.key(seed)
    want = np.asarray(jax.random.uniform(key, shape))
    np.testing.assert_array_equal(np.asarray(rbm.uniform(key, shape)), want)
    np.testing.assert_array_equal(np.asarray(jax.jit(rbm.uniform, static_argnums=1)(key, shape)), want)


def test_config_rejects_bad_values():
  with pytest.raises(UserError):
    rbm.RBMConfig(kind="softmax")
  with pytest.raises(UserError):
    rbm.RBMConfig(kind="bernoulli", learn_sigma=True)
  with pytest.raises(UserError):
    rbm.CDConfig(k=0)


def test_free_energy_matches_brute_force_sum_over_hiddens(tiny):
  config, params = tiny
  v = _binary_data(jax.random.key(1), 5, 6)
  hs = _all_states(4)
  energies = jax.vmap(lambda h: _bernoulli_energy(params, v, jnp.broadcast_to(h, (5, 4))))(hs)  # [16, 5]
  np.testing.assert_allclose(rbm.free_energy(config, params, v), -jax.nn.logsumexp(-energies, axis=0), rtol=1e-5)


def test_exact_log_partition_bernoulli_both_enumerations(tiny):
  config, params = tiny
  vs, hs = _all_states(6), _all_states(4)
  energies = jax.vmap(lambda h: _bernoulli_energy(params, vs, jnp.broadcast_to(h, (len(vs), 4))))(hs)
  brute = jax.nn.logsumexp(-energies)
  np.testing.assert_allclose(rbm.exact_log_partition(config, params), brute, rtol=1e-5)
  # the transposed RBM has the same Z and is enumerated over the other layer
  swapped = rbm.RBMConfig(num_visible=4, num_hidden=6)
  params_t = {"w": params["w"].T, "b_v": params["b_h"], "b_h": params["b_v"]}
  np.testing.assert_allclose(rbm.exact_log_partition(swapped, params_t), brute, rtol=1e-5)


def test_exact_log_partition_gaussian_matches_quadrature():
  config = rbm.RBMConfig(kind="gaussian", num_visible=1, num_hidden=3, learn_sigma=True)
  params = _random_params(config, jax.random.key(3))
  grid = jnp.linspace(-15.0, 15.0, 60001)[:, None]
  log_integrand = jax.jit(rbm.free_energy, static_argnums=0)(config, params, grid)
  log_integrand = -log_integrand
  numeric = jax.nn.logsumexp(log_integrand) + jnp.log(grid[1, 0] - grid[0, 0])
  np.testing.assert_allclose(rbm.exact_log_partition(config, params), numeric, rtol=1e-4)


def test_manual_cd_gradient_equals_free_energy_difference_gradient():
  for kind in ("bernoulli", "gaussian"):
    config = rbm.RBMConfig(kind=kind, num_visible=6, num_hidden=4)
    params = _random_params(config, jax.random.key(4))
    v_pos = jax.random.uniform(jax.random.key(5), (8, 6))
    v_neg = jax.random.uniform(jax.random.key(6), (5, 6))
    got = rbm.cd_gradient(config, params, v_pos, rbm.transform(params, v_pos), v_neg, rbm.transform(params, v_neg))
    want = jax.jit(jax.grad(
        lambda p: jnp.mean(rbm.free_energy(config, p, v_neg)) - jnp.mean(rbm.free_energy(config, p, v_pos))))(params)
    for name in got:
      np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-6, err_msg=f"{kind} {name}")


@functools.partial(jax.jit, static_argnums=(0, 1, 5))
def _mean_cd_gradient(config, cd, params, data, key, repeats):
  keys = jax.random.split(key, repeats)
  grads = jax.vmap(lambda k: rbm.contrastive_divergence(config, cd, params, data, k)[0])(keys)
  return jax.tree.map(lambda g: jnp.mean(g, 0), grads)


def _flat(tree):
  return np.concatenate([np.ravel(tree[k]) for k in ("w", "b_v", "b_h")])


def test_cd_gradient_agrees_with_exact_log_likelihood_gradient():
  """CD-k averaged over 400 chains vs ∂/∂θ of the exact mean log-likelihood (log Z by enumeration).

  With weights of scale 1, CD-1 is visibly biased (relative error ≈ 0.22, cosine ≈ 0.99 when written) and
  CD-10 nearly exact (≈ 0.013): the bounds check the direction, the signs, and that the bias shrinks with k.
  """
  config = rbm.RBMConfig(num_visible=6, num_hidden=4)
  params = _random_params(config, jax.random.key(0), scale=1.0)
  data = _binary_data(jax.random.key(7), 32, 6)
  exact = _flat(jax.jit(jax.grad(lambda p: rbm.exact_log_likelihood(config, p, data)))(params))
  rel_errors = []
  for k, min_cos, min_sign in ((1, 0.95, 0.9), (10, 0.995, 1.0)):
    est = _flat(_mean_cd_gradient(config, rbm.CDConfig(k=k), params, data, jax.random.key(8), 400))
    cos = est @ exact / (np.linalg.norm(est) * np.linalg.norm(exact))
    # entries whose exact value is tiny carry no sign information; judge the rest
    big = np.abs(exact) > 0.05 * np.abs(exact).max()
    sign_agree = np.mean(np.sign(est[big]) == np.sign(exact[big]))
    assert cos > min_cos, f"CD-{k}: cosine {cos:.3f}"
    assert sign_agree >= min_sign, f"CD-{k}: sign agreement {sign_agree:.2f}"
    rel_errors.append(np.linalg.norm(est - exact) / np.linalg.norm(exact))
  assert rel_errors[1] < 0.05 and rel_errors[1] < 0.5 * rel_errors[0], rel_errors


def test_training_increases_exact_log_likelihood():
  # 4 noisy prototypes over 10 visibles: a distribution an RBM with 6 hiddens models well
  key = jax.random.key(10)
  protos = _binary_data(key, 4, 10, 0.5)
  which = jax.random.randint(jax.random.fold_in(key, 1), (400,), 0, 4)
  flips = jax.random.bernoulli(jax.random.fold_in(key, 2), 0.05, (400, 10))
  data = jnp.abs(protos[which] - flips.astype(jnp.float32))
  config = rbm.RBMConfig(num_visible=10, num_hidden=6, init_scale=0.1)
  for cd in (rbm.CDConfig(k=1, learning_rate=0.1, momentum=0.5),
             rbm.CDConfig(k=1, persistent=True, learning_rate=0.05, momentum=0.5)):
    state = rbm.init_train_state(config, cd, jax.random.key(11), batch_size=20, visible_mean=jnp.mean(data, 0))
    before = float(rbm.exact_log_likelihood(config, state.params, data))
    state, history = rbm.train_epochs(state, data, jax.random.key(12), num_epochs=30, batch_size=20)
    after = float(rbm.exact_log_likelihood(config, state.params, data))
    assert after > before + 1.0, (cd, before, after)
    assert int(state.step) == 30 * 20
    assert history[-1]["recon_error"] < history[0]["recon_error"]
    if cd.persistent:
      assert state.chains.shape == (20, 6)


def test_weight_decay_and_momentum_enter_the_update_as_documented(tiny):
  config, params = tiny
  batch = _binary_data(jax.random.key(13), 8, 6)
  key1, key2 = jax.random.key(14), jax.random.key(15)

  def step(cd, params, velocity, key):
    # rbm_train_step donates the state, so hand it copies
    state = rbm.init_train_state(config, cd, key, 8, params=jax.tree.map(jnp.copy, params))
    state = state.replace(velocity=jax.tree.map(jnp.copy, velocity))
    new, _ = rbm.rbm_train_step(state, batch, key)
    return new

  zeros = jax.tree.map(jnp.zeros_like, params)
  plain = step(rbm.CDConfig(learning_rate=0.1), params, zeros, key1)
  decayed = step(rbm.CDConfig(learning_rate=0.1, weight_decay=0.01), params, zeros, key1)
  np.testing.assert_allclose(decayed.params["w"] - plain.params["w"], -0.1 * 0.01 * params["w"], atol=1e-6)
  np.testing.assert_allclose(decayed.params["b_v"], plain.params["b_v"])  # biases are not decayed

  mom = rbm.CDConfig(learning_rate=0.1, momentum=0.9)
  first = step(mom, params, zeros, key1)
  v1 = jax.tree.map(jnp.subtract, first.params, params)
  np.testing.assert_allclose(first.velocity["w"], v1["w"], atol=1e-7)
  second = step(mom, first.params, first.velocity, key2)
  no_mom = step(rbm.CDConfig(learning_rate=0.1), first.params, zeros, key2)
  want = 0.9 * v1["w"] + (no_mom.params["w"] - first.params["w"])
  np.testing.assert_allclose(second.params["w"] - first.params["w"], want, atol=1e-6)


def test_train_epoch_without_shuffle_is_the_same_as_stepping_in_order(tiny):
  config, params = tiny
  data = _binary_data(jax.random.key(16), 23, 6)  # 23 = 4 batches of 5 + 3 skipped
  cd = rbm.CDConfig(k=2)
  state = rbm.init_train_state(config, cd, jax.random.key(0), 5, params=jax.tree.map(jnp.copy, params))
  key = jax.random.key(17)
  ep_state, sums = rbm.train_epoch(state, data, key, batch_size=5, shuffle=False)
  assert float(sums["count"]) == 20
  step_keys = jax.random.split(jax.random.split(key)[1], 4)
  manual = rbm.init_train_state(config, cd, jax.random.key(0), 5, params=jax.tree.map(jnp.copy, params))
  for i in range(4):
    manual, _ = rbm.rbm_train_step(manual, data[5 * i: 5 * i + 5], step_keys[i])
  np.testing.assert_allclose(ep_state.params["w"], manual.params["w"], rtol=1e-5, atol=1e-6)


def test_pseudo_likelihood_equals_scikit_learn():
  config = rbm.RBMConfig(num_visible=64, num_hidden=12)
  params = _random_params(config, jax.random.key(18), scale=0.3)
  x = load_digits().data[:50].astype(np.float64) / 16.0
  for data in (x, (x > 0.5).astype(np.float64)):  # probabilities in [0,1], as sklearn accepts, and binary
    sk = BernoulliRBM(n_components=12, random_state=123)
    sk.components_ = np.asarray(params["w"], np.float64).T
    sk.intercept_hidden_ = np.asarray(params["b_h"], np.float64)
    sk.intercept_visible_ = np.asarray(params["b_v"], np.float64)
    sk.n_features_in_ = 64
    want = sk.score_samples(data)
    flip = np.random.RandomState(123).randint(0, 64, len(data))  # the indices sklearn draws for this seed
    got = rbm.pseudo_likelihood(config, params, jnp.asarray(data, jnp.float32), jnp.asarray(flip))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_free_energy_gap(tiny):
  config, params = tiny
  a = _binary_data(jax.random.key(19), 10, 6)
  b = _binary_data(jax.random.key(20), 10, 6)
  assert float(rbm.free_energy_gap(config, params, a, a)) == 0.0
  want = np.mean(rbm.free_energy(config, params, b)) - np.mean(rbm.free_energy(config, params, a))
  np.testing.assert_allclose(rbm.free_energy_gap(config, params, a, b), want, rtol=1e-6)


@pytest.fixture(scope="module")
def digits_rbm():
  """An RBM with 16 hiddens trained briefly on binarized 8x8 digits: realistic weights, exact log Z feasible."""
  x = jnp.asarray(load_digits().data > 7, jnp.float32)
  config = rbm.RBMConfig(num_visible=64, num_hidden=16)
  cd = rbm.CDConfig(k=1, learning_rate=0.05, momentum=0.5)
  state = rbm.init_train_state(config, cd, jax.random.key(21), 20, visible_mean=jnp.mean(x, 0))
  state, _ = rbm.train_epochs(state, x, jax.random.key(22), num_epochs=10, batch_size=20)
  return config, state.params, x


def test_ais_log_partition_matches_exact_enumeration(digits_rbm):
  config, params, x = digits_rbm
  exact = float(rbm.exact_log_partition(config, params))
  base = rbm.base_rate_biases(x)
  est, rel_se = rbm.ais_log_partition(config, params, base, jax.random.key(23), rbm.ais_betas(1000), 200)
  # AIS estimates Z without bias, so log Z is off by about its relative standard error, which is returned
  # (≈0.008 nats here). Allow 4 standard errors plus 0.05 nats, because the delta-method error bar is itself
  # noisy with 200 chains (seeds 0-2 with 1,000 betas were off by 0.001-0.028 nats, up to 3.4 SE).
  tol = 4 * float(rel_se) + 0.05
  assert abs(float(est) - exact) < tol, (float(est), exact, float(rel_se))
  # a trained RBM is far from the base-rate model: the test would catch an AIS that returns log Z_A
  log_z_a = float(jnp.sum(jax.nn.softplus(base)) + 16 * math.log(2))
  assert abs(log_z_a - exact) > 10 * tol
  ll, _ = rbm.ais_log_likelihood(config, params, x, base, jax.random.key(24), num_intermediate=1000, num_chains=200)
  np.testing.assert_allclose(ll, rbm.exact_log_likelihood(config, params, x), atol=tol)


def test_long_gibbs_chains_sample_the_model_distribution(tiny):
  """Visible marginals of 2,000 chains after 200 sweeps match the exact marginals (enumeration)."""
  config, params = tiny
  vs = _all_states(6)
  p_v = jax.nn.softmax(-rbm.free_energy(config, params, vs))
  exact_marginals = p_v @ vs
  v0 = jnp.zeros((2000, 6))
  v, mean = rbm.sample_chain(config, params, v0, jax.random.key(30), 200)
  assert v.shape == mean.shape == (2000, 6)
  # 2,000 independent chains: std of each marginal ≤ 0.5/√2000 ≈ 0.011, so 0.05 is > 4 standard deviations
  np.testing.assert_allclose(jnp.mean(v, 0), exact_marginals, atol=0.05)


def test_exact_log_partition_refuses_large_models():
  with pytest.raises(UserError):
    config = rbm.RBMConfig(num_visible=30, num_hidden=30)
    rbm.exact_log_partition(config, rbm.init_params(config, jax.random.key(0)))


def test_gaussian_rbm_learns_structured_data():
  key = jax.random.key(25)
  z = jax.random.normal(key, (600, 2))
  mix = jax.random.normal(jax.random.fold_in(key, 1), (2, 8))
  data = z @ mix + 0.3 * jax.random.normal(jax.random.fold_in(key, 2), (600, 8))
  data = (data - data.mean(0)) / data.std(0)
  config = rbm.RBMConfig(kind="gaussian", num_visible=8, num_hidden=12)
  cd = rbm.CDConfig(k=1, learning_rate=0.01, momentum=0.5, sample_visible=False)
  state = rbm.init_train_state(config, cd, jax.random.key(26), 30, visible_mean=jnp.mean(data, 0))
  before = float(rbm.exact_log_likelihood(config, state.params, data))
  state, history = rbm.train_epochs(state, data, jax.random.key(27), num_epochs=20, batch_size=30)
  after = float(rbm.exact_log_likelihood(config, state.params, data))
  assert after > before + 0.5, (before, after)
  assert history[-1]["recon_error"] < history[0]["recon_error"]
  with pytest.raises(UserError):
    rbm.pseudo_likelihood(config, state.params, data, jnp.zeros((600,), jnp.int32))
