"""Autoencoder / denoising autoencoder: shapes, gradients, noise, and that training reduces the loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from sklearn.datasets import load_digits

from research.errors import UserError
from research.pretraining import autoencoder as ae


@pytest.fixture(scope="module")
def digits():
  return jnp.asarray(load_digits().data[:600] / 16.0, jnp.float32)


@pytest.mark.parametrize("tied", [True, False])
def test_shapes_and_encoder_layer(tied):
  config = ae.AEConfig(num_visible=9, num_hidden=4, tied=tied)
  params = ae.init_params(config, jax.random.key(0))
  assert ("w_dec" in params) == (not tied)
  x = jax.random.uniform(jax.random.key(1), (5, 9))
  h = ae.encode(params, x, "sigmoid")
  assert h.shape == (5, 4)
  assert ae.reconstruct(config, params, x).shape == (5, 9)
  layer = ae.encoder_layer(params)
  assert layer["kernel"].shape == (9, 4) and layer["bias"].shape == (4,)
  np.testing.assert_allclose(jax.nn.sigmoid(x @ layer["kernel"] + layer["bias"]), h, rtol=1e-6)


def test_config_rejects_bad_values():
  with pytest.raises(UserError):
    ae.AEConfig(loss="bce", output="linear")
  with pytest.raises(UserError):
    ae.AEConfig(noise="mask", noise_level=1.0)
  with pytest.raises(UserError):
    ae.AEConfig(activation="swish")


def test_bce_loss_matches_formula_and_gradients_are_right():
  config = ae.AEConfig(num_visible=6, num_hidden=3, tied=False)
  params = ae.init_params(config, jax.random.key(2))
  x = jax.random.uniform(jax.random.key(3), (4, 6))
  p = ae.reconstruct(config, params, x)
  want = -jnp.sum(x * jnp.log(p) + (1 - x) * jnp.log(1 - p), axis=-1)
  np.testing.assert_allclose(ae.per_example_loss(config, params, x, x), want, rtol=1e-5)
  check_grads(lambda p: jnp.mean(ae.per_example_loss(config, p, x, x)), (params,), order=1, modes=["rev"],
              atol=2e-2, rtol=2e-2)


def test_masking_noise_zeroes_the_requested_fraction():
  config = ae.AEConfig(num_visible=1000, num_hidden=2, noise="mask", noise_level=0.3)
  x = jnp.ones((100, 1000))
  x_tilde = ae.corrupt(config, x, jax.random.key(4))
  frac = float(jnp.mean(x_tilde == 0))
  # 100,000 Bernoulli(0.3) draws: std of the fraction is 0.0014, so 0.01 is about 7 standard deviations
  assert abs(frac - 0.3) < 0.01
  assert set(np.unique(np.asarray(x_tilde))) == {0.0, 1.0}  # kept entries are untouched


def test_gaussian_noise_has_the_requested_std():
  config = ae.AEConfig(num_visible=1000, num_hidden=2, noise="gaussian", noise_level=0.2, loss="mse",
                       output="linear")
  x = jnp.full((50, 1000), 0.5)
  diff = ae.corrupt(config, x, jax.random.key(5)) - x
  assert abs(float(jnp.std(diff)) - 0.2) < 0.005
  assert abs(float(jnp.mean(diff))) < 0.005
  clean = ae.AEConfig(num_visible=1000, num_hidden=2)
  assert ae.corrupt(clean, x, jax.random.key(5)) is x


def test_denoising_step_scores_the_corrupted_input_against_the_clean_target(digits):
  config = ae.AEConfig(num_visible=64, num_hidden=16, noise="mask", noise_level=0.5)
  state = ae.init_train_state(config, ae.AETrainConfig(learning_rate=0.1), jax.random.key(6))
  params = jax.tree.map(jnp.copy, state.params)
  batch, key = digits[:32], jax.random.key(7)
  _, metrics = ae.ae_train_step(state, batch, key)
  x_tilde = ae.corrupt(config, batch, key)
  want = jnp.sum(ae.per_example_loss(config, params, batch, x_tilde))
  clean = jnp.sum(ae.per_example_loss(config, params, batch, batch))
  np.testing.assert_allclose(metrics["loss_sum"], want, rtol=1e-5)
  assert abs(float(want) - float(clean)) > 1e-3 * abs(float(clean))


@pytest.mark.parametrize("config,train", [
    (ae.AEConfig(num_visible=64, num_hidden=32), ae.AETrainConfig(learning_rate=0.1, momentum=0.9)),
    (ae.AEConfig(num_visible=64, num_hidden=32, tied=False, noise="mask", noise_level=0.25),
     ae.AETrainConfig(learning_rate=0.01, optimizer="adam")),
    (ae.AEConfig(num_visible=64, num_hidden=32, activation="relu", loss="mse", output="linear", noise="gaussian",
                 noise_level=0.1), ae.AETrainConfig(learning_rate=0.003, optimizer="adam", weight_decay=1e-4)),
])
def test_training_reduces_loss(digits, config, train):
  state = ae.init_train_state(config, train, jax.random.key(8))
  state, history = ae.train_epochs(state, digits, jax.random.key(9), num_epochs=8, batch_size=20)
  assert int(state.step) == 8 * 30
  assert history[-1]["loss"] < 0.8 * history[0]["loss"], history
  assert all(np.isfinite(h["loss"]) for h in history)


def test_weight_decay_shrinks_weights(digits):
  config = ae.AEConfig(num_visible=64, num_hidden=16)
  norms = []
  for wd in (0.0, 0.05):
    state = ae.init_train_state(config, ae.AETrainConfig(learning_rate=0.1, weight_decay=wd), jax.random.key(10))
    state, _ = ae.train_epochs(state, digits, jax.random.key(11), num_epochs=3, batch_size=20)
    norms.append(float(jnp.linalg.norm(state.params["w"])))
  assert norms[1] < 0.8 * norms[0], norms
