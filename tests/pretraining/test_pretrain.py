"""Greedy layer-wise pretraining: stack shapes, h passed between stages, resume equals an uninterrupted run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from research.errors import UserError
from research.pretraining import layerwise as pretrain
from research.pretraining import rbm

# One set of sizes and hyperparameters everywhere, so each layer's jitted epoch compiles once per file.
SIZES = [16, 8, 4]


@pytest.fixture(scope="module")
def x():
  return jnp.asarray(load_digits().data[:200] / 16.0, jnp.float32)


@pytest.mark.parametrize("kind", pretrain.KINDS)
def test_stack_shapes_and_h_chain(x, kind):
  seen = []
  layers = pretrain.pretrain_stack(x, SIZES, kind, epochs=2, batch_size=20, lr=0.05, key=jax.random.key(0),
                                   on_layer_done=lambda i, layer, h: seen.append((i, layer, h)))
  assert [tuple(layer["kernel"].shape) for layer in layers] == [(64, 16), (16, 8), (8, 4)]
  assert [tuple(layer["bias"].shape) for layer in layers] == [(16,), (8,), (4,)]
  assert [i for i, _, _ in seen] == [0, 1, 2]
  h = x
  for (_, layer, h_seen), want in zip(seen, layers, strict=True):
    assert layer is want
    h = jax.nn.sigmoid(h @ layer["kernel"] + layer["bias"])  # the notes' h_i = f(h_{i-1} w_i + b_i)
    np.testing.assert_allclose(h_seen, h, rtol=1e-5, atol=1e-6)
  # pretraining moved the weights away from their random initialization in a data-dependent way
  assert float(jnp.abs(layers[0]["bias"]).max()) > 0


def test_layer_is_trained_on_the_previous_layers_h(x):
  """Layer 2 of the stack equals a layer trained directly on h1 with the stack's key for layer 2."""
  key = jax.random.key(1)
  layers = pretrain.pretrain_stack(x, SIZES[:2], "rbm", epochs=2, batch_size=20, lr=0.05, key=key)
  h1 = pretrain.apply_layer(layers[0], x)
  direct = pretrain.pretrain_layer(h1, 8, "rbm", epochs=2, batch_size=20, lr=0.05, key=jax.random.fold_in(key, 1))
  np.testing.assert_allclose(direct.layer["kernel"], layers[1]["kernel"], rtol=1e-5, atol=1e-6)
  assert len(direct.history) == 2 and set(direct.params) == {"w", "b_v", "b_h"}
  assert direct.config == rbm.RBMConfig(kind="bernoulli", num_visible=16, num_hidden=8)


@pytest.mark.parametrize("kind", ["rbm", "denoising_autoencoder"])
def test_resume_after_a_kill_equals_uninterrupted_run(x, kind):
  key = jax.random.key(2)
  kwargs = dict(epochs=2, batch_size=20, lr=0.05, key=key)
  full = pretrain.pretrain_stack(x, SIZES, kind, **kwargs)

  saved = []

  def killed_after_first(i, layer, h):
    saved.append(jax.tree.map(np.asarray, layer))  # what a checkpoint would hold
    if i == 0:
      raise KeyboardInterrupt  # the run dies right after stage 0 is saved

  with pytest.raises(KeyboardInterrupt):
    pretrain.pretrain_stack(x, SIZES, kind, on_layer_done=killed_after_first, **kwargs)
  resumed = pretrain.pretrain_stack(x, SIZES, kind, start_layer=1, trained_layers=saved, **kwargs)
  for a, b in zip(full, resumed, strict=True):
    np.testing.assert_allclose(a["kernel"], b["kernel"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["bias"], b["bias"], rtol=1e-5, atol=1e-6)


def test_bad_resume_and_kind_are_user_errors(x):
  with pytest.raises(UserError):
    pretrain.pretrain_stack(x, [8], "pca", epochs=1, batch_size=20, lr=0.1, key=jax.random.key(0))
  with pytest.raises(UserError):
    pretrain.pretrain_stack(x, [8, 4], "rbm", epochs=1, batch_size=20, lr=0.1, key=jax.random.key(0), start_layer=1)
  wrong = [{"kernel": jnp.zeros((10, 8)), "bias": jnp.zeros((8,))}]
  with pytest.raises(UserError):
    pretrain.pretrain_stack(x, [8, 4], "rbm", epochs=1, batch_size=20, lr=0.1, key=jax.random.key(0),
                            start_layer=1, trained_layers=wrong)


def test_input_range_picks_visible_kind_and_loss(x):
  z = jax.random.normal(jax.random.key(3), (100, 5))
  kw = dict(epochs=1, batch_size=20, lr=0.05, key=jax.random.key(4))
  assert pretrain.pretrain_layer(z, 3, "rbm", **kw).config.kind == "gaussian"
  assert pretrain.pretrain_layer(x, 16, "rbm", **kw).config.kind == "bernoulli"
  cfg = pretrain.pretrain_layer(z, 3, "autoencoder", **kw).config
  assert (cfg.loss, cfg.output, cfg.noise) == ("mse", "linear", "none")
  cfg = pretrain.pretrain_layer(x, 16, "denoising_autoencoder", **kw).config
  assert (cfg.loss, cfg.output, cfg.noise, cfg.noise_level) == ("bce", "sigmoid", "mask", 0.25)
