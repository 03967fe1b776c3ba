"""Greedy layer-wise pretraining, as the course notes describe it (docs/course_notes.md §1).

Train an RBM or an autoencoder on x to get w1, b1 and the first hidden layer's values h1 = f(x w1 + b1);
train the next one on h1 to get w2, b2, h2; and so on. The result is a list of Dense-layer parameters
{'kernel': [in, out], 'bias': [out]} that initializes the hidden layers of a deep MLP (`params['hidden_i']`)
before supervised fine-tuning.

Every stage is its own jitted training (one compiled epoch scan per layer shape) and ends in
`on_layer_done(layer_index, layer_params, h)`, the place to checkpoint. A run killed mid-stack resumes with
`start_layer=i, trained_layers=<the i layers saved so far>`: h is recomputed from x through them, and layer
i's key is fold_in(key, i), so the resumed stack equals an uninterrupted one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from research.errors import UserError
from research.pretraining import autoencoder as ae
from research.pretraining import rbm

KINDS = ("rbm", "autoencoder", "denoising_autoencoder")
Layer = dict[str, jax.Array]


class LayerResult(NamedTuple):
  """One trained stage: the Dense layer, the model's own params and config, and per-epoch metric means."""

  layer: Layer
  params: dict[str, jax.Array]
  config: rbm.RBMConfig | ae.AEConfig
  history: list[dict[str, float]]


def _in_unit_interval(x: jax.Array) -> bool:
  return bool(jnp.min(x) >= 0.0) and bool(jnp.max(x) <= 1.0)


@functools.partial(jax.jit, static_argnames="activation")
def _dense(layer: Layer, x: jax.Array, activation: str) -> jax.Array:
  return ae.ACTIVATIONS[activation](x @ layer["kernel"] + layer["bias"])


def apply_layer(layer: Layer, x: jax.Array, activation: str = "sigmoid", chunk: int = 8192) -> jax.Array:
  """activation(x kernel + bias): float32[N, out] for x: float32[N, in], in chunks of rows to bound memory."""
  return jnp.concatenate([_dense(layer, x[i:i + chunk], activation) for i in range(0, x.shape[0], chunk)], axis=0)


def pretrain_layer(x: jax.Array, num_hidden: int, kind: str, *, epochs: int, batch_size: int, lr: float,
                   key: jax.Array, momentum: float = 0.5, weight_decay: float = 0.0, cd_k: int = 1,
                   persistent: bool = False, noise_level: float = 0.25, noise: str = "mask",
                   activation: str = "sigmoid", tied: bool = True, optimizer: str = "sgd",
                   on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
                   ) -> LayerResult:
  """Trains one RBM / (denoising) autoencoder on x: float32[N, V] with `num_hidden` units.

  RBM: Bernoulli visibles when x is in [0, 1], Gaussian (σ = 1; standardize x first) otherwise; hidden units
  are sigmoid, so `activation` must be 'sigmoid'. Autoencoder: BCE loss with a sigmoid decoder when x is in
  [0, 1], squared error with a linear decoder otherwise; 'denoising_autoencoder' corrupts its input with
  `noise` ('mask' or 'gaussian') at `noise_level`.

  Returns a LayerResult whose `layer` is the Dense layer {'kernel': [V, H], 'bias': [H]}.
  """
  if kind not in KINDS:
    raise UserError(f"pretraining kind {kind!r} is unknown; use one of {KINDS}")
  x = jnp.asarray(x, jnp.float32)
  unit = _in_unit_interval(x)
  log = None if on_epoch_end is None else (lambda epoch, state, means: on_epoch_end(epoch, means))
  if kind == "rbm":
    if activation != "sigmoid":
      raise UserError(f"RBM hidden units are sigmoid; set activation='sigmoid' (got {activation!r}) "
                      "or pretrain with an autoencoder")
    config = rbm.RBMConfig(kind="bernoulli" if unit else "gaussian", num_visible=x.shape[1], num_hidden=num_hidden)
    cd = rbm.CDConfig(k=cd_k, persistent=persistent, learning_rate=lr, momentum=momentum,
                      weight_decay=weight_decay, sample_visible=unit)
    k_init, k_train = jax.random.split(key)
    state = rbm.init_train_state(config, cd, k_init, batch_size, visible_mean=jnp.mean(x, 0))
    state, history = rbm.train_epochs(state, x, k_train, num_epochs=epochs, batch_size=batch_size, on_epoch_end=log)
    return LayerResult(rbm.encoder_layer(state.params), state.params, config, history)
  denoising = kind == "denoising_autoencoder"
  config = ae.AEConfig(num_visible=x.shape[1], num_hidden=num_hidden, activation=activation, tied=tied,
                       output="sigmoid" if unit else "linear", loss="bce" if unit else "mse",
                       noise=noise if denoising else "none", noise_level=noise_level if denoising else 0.0)
  train = ae.AETrainConfig(learning_rate=lr, optimizer=optimizer, momentum=momentum, weight_decay=weight_decay)
  k_init, k_train = jax.random.split(key)
  state = ae.init_train_state(config, train, k_init)
  state, history = ae.train_epochs(state, x, k_train, num_epochs=epochs, batch_size=batch_size, on_epoch_end=log)
  return LayerResult(ae.encoder_layer(state.params), state.params, config, history)


def pretrain_stack(x: jax.Array, layer_sizes: Sequence[int], kind: str = "rbm", *, epochs: int, batch_size: int,
                   lr: float, key: jax.Array, activation: str = "sigmoid", start_layer: int = 0,
                   trained_layers: Sequence[Layer] = (),
                   on_layer_done: Callable[[int, Layer, jax.Array], None] | None = None,
                   on_epoch_end: Callable[[int, int, dict[str, float]], None] | None = None,
                   **layer_kwargs: Any) -> list[Layer]:
  """Greedy layer-wise pretraining of hidden layers `layer_sizes` on x: float32[N, D].

  Layer i trains on h_{i-1} (h_0 = x) with key fold_in(key, i) and yields h_i = activation(h_{i-1} W_i + b_i).
  start_layer / trained_layers resume a stack: layers < start_layer are taken as given (and h recomputed).
  on_layer_done(i, {'kernel', 'bias'}, h_i: float32[N, layer_sizes[i]]) runs after each trained layer;
  on_epoch_end(i, epoch, metric means) after each epoch. Extra keyword arguments go to `pretrain_layer`
  (momentum, weight_decay, cd_k, persistent, noise_level, noise, tied, optimizer).

  Returns one {'kernel': [in, out], 'bias': [out]} per entry of layer_sizes.
  """
  if kind not in KINDS:
    raise UserError(f"pretraining kind {kind!r} is unknown; use one of {KINDS}")
  if not layer_sizes:
    raise UserError("pretrain_stack needs at least one hidden layer size")
  if start_layer != len(trained_layers) or not 0 <= start_layer <= len(layer_sizes):
    raise UserError(f"resuming at start_layer={start_layer} needs exactly that many trained_layers "
                    f"(got {len(trained_layers)}) and at most {len(layer_sizes)}")
  layers = [dict(layer) for layer in trained_layers]
  h = jnp.asarray(x, jnp.float32)
  in_dim = h.shape[1]
  for i, layer in enumerate(layers):
    want = (in_dim, layer_sizes[i])
    if tuple(layer["kernel"].shape) != want:
      raise UserError(f"trained layer {i} has kernel {tuple(layer['kernel'].shape)}, expected {want}; "
                      "resume from a checkpoint of the same layer_sizes")
    h = apply_layer(layer, h, activation)
    in_dim = layer_sizes[i]
  for i in range(start_layer, len(layer_sizes)):
    log = None if on_epoch_end is None else (lambda epoch, means, i=i: on_epoch_end(i, epoch, means))
    layer = pretrain_layer(h, layer_sizes[i], kind, epochs=epochs, batch_size=batch_size, lr=lr,
                           key=jax.random.fold_in(key, i), activation=activation, on_epoch_end=log,
                           **layer_kwargs).layer
    h = apply_layer(layer, h, activation)
    if not np.all(np.isfinite(np.asarray(layer["kernel"]))):
      raise UserError(f"pretraining layer {i} diverged (non-finite weights); lower lr={lr}")
    layers.append(layer)
    if on_layer_done is not None:
      on_layer_done(i, layer, h)
  return layers
