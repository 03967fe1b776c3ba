"""One-hidden-layer autoencoders and denoising autoencoders (Vincent et al., 2008), functional.

Parameters are a dict pytree laid out like the RBM's so either initializes a Dense layer of the deep MLP:

  {'w': float32[V, H], 'b_h': float32[H], 'b_v': float32[V]}      (+ 'w_dec': float32[H, V] when untied)

  encode: h = act(x W + b_h)                 act = sigmoid | relu | tanh
  decode: x̂ = out(h W_dec + b_v)            W_dec = Wᵀ (tied) or 'w_dec'; out = sigmoid | linear
  loss (per example, summed over visibles): binary cross-entropy (inputs in [0, 1], sigmoid output) or
  squared error; a denoising autoencoder encodes a corrupted x̃ but is scored against the clean x.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from research.errors import UserError
from research.pretraining.epochs import run_epochs, scan_minibatches

Params = dict[str, jax.Array]
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}
NOISES = ("none", "mask", "gaussian")


@dataclasses.dataclass(frozen=True)
class AEConfig:
  """Shape, noise and loss of one autoencoder layer.

  activation: encoder nonlinearity ('sigmoid', 'relu', 'tanh').
  tied: decoder weights are Wᵀ (fewer parameters; the classic choice for pretraining).
  output: decoder output, 'sigmoid' (inputs in [0, 1]) or 'linear'.
  loss: 'bce' (needs output='sigmoid') or 'mse' (squared error summed over visibles).
  noise: 'none' (plain autoencoder), 'mask' (each input set to 0 with probability noise_level), or
    'gaussian' (add N(0, noise_level²)).
  init_scale: half-width of the uniform initializer of W; 0 means Glorot's sqrt(6 / (V + H)).
  """

  num_visible: int = 784
  num_hidden: int = 256
  activation: str = "sigmoid"
  tied: bool = True
  output: str = "sigmoid"
  loss: str = "bce"
  noise: str = "none"
  noise_level: float = 0.0
  init_scale: float = 0.0

  def __post_init__(self):
    if self.activation not in ACTIVATIONS:
      raise UserError(f"autoencoder activation {self.activation!r} is unknown; use one of {tuple(ACTIVATIONS)}")
    if self.output not in ("sigmoid", "linear"):
      raise UserError(f"autoencoder output {self.output!r} is unknown; use 'sigmoid' or 'linear'")
    if self.loss not in ("bce", "mse"):
      raise UserError(f"autoencoder loss {self.loss!r} is unknown; use 'bce' or 'mse'")
    if self.loss == "bce" and self.output != "sigmoid":
      raise UserError("loss='bce' needs output='sigmoid' (targets and outputs in [0, 1]); or use loss='mse'")
    if self.noise not in NOISES:
      raise UserError(f"autoencoder noise {self.noise!r} is unknown; use one of {NOISES}")
    if self.noise == "mask" and not 0.0 <= self.noise_level < 1.0:
      raise UserError(f"masking noise_level is a probability in [0, 1), got {self.noise_level}")
    if self.noise_level < 0:
      raise UserError(f"noise_level must be >= 0, got {self.noise_level}")


@dataclasses.dataclass(frozen=True)
class AETrainConfig:
  """optimizer: 'sgd' (with optional momentum) or 'adam'. weight_decay: L2 coefficient on the weights (not the
  biases), added to the loss as wd/2·‖W‖²."""

  learning_rate: float = 0.1
  optimizer: str = "sgd"
  momentum: float = 0.0
  weight_decay: float = 0.0

  def __post_init__(self):
    if self.optimizer not in ("sgd", "adam"):
      raise UserError(f"autoencoder optimizer {self.optimizer!r} is unknown; use 'sgd' or 'adam'")
    if self.learning_rate <= 0:
      raise UserError(f"learning_rate must be positive, got {self.learning_rate}")


def make_optimizer(tc: AETrainConfig) -> optax.GradientTransformation:
  if tc.optimizer == "adam":
    return optax.adam(tc.learning_rate)
  return optax.sgd(tc.learning_rate, momentum=tc.momentum or None)


@flax.struct.dataclass
class AETrainState:
  """step: int32[]; params; opt_state of `make_optimizer(train)`. The configs are static."""

  step: jax.Array
  params: Params
  opt_state: Any
  config: AEConfig = flax.struct.field(pytree_node=False)
  train: AETrainConfig = flax.struct.field(pytree_node=False)


def init_params(config: AEConfig, key: jax.Array) -> Params:
  """W ~ U(-a, a) with a = init_scale or Glorot's sqrt(6 / (V + H)); biases 0."""
  v, h = config.num_visible, config.num_hidden
  scale = config.init_scale or math.sqrt(6.0 / (v + h))
  k_enc, k_dec = jax.random.split(key)
  params = {"w": jax.random.uniform(k_enc, (v, h), jnp.float32, -scale, scale),
            "b_h": jnp.zeros((h,), jnp.float32), "b_v": jnp.zeros((v,), jnp.float32)}
  if not config.tied:
    params["w_dec"] = jax.random.uniform(k_dec, (h, v), jnp.float32, -scale, scale)
  return params


def init_train_state(config: AEConfig, train: AETrainConfig, key: jax.Array) -> AETrainState:
  params = init_params(config, key)
  return AETrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=make_optimizer(train).init(params),
                      config=config, train=train)


def encode(params: Params, x: jax.Array, activation: str = "sigmoid") -> jax.Array:
  """Hidden values act(x W + b_h): float32[B, H] for x: float32[B, V] — what the next stacked layer sees."""
  return ACTIVATIONS[activation](x @ params["w"] + params["b_h"])


def encoder_layer(params: Params) -> dict[str, jax.Array]:
  """{'kernel': [V, H], 'bias': [H]} for the Dense layer that computes `encode`'s pre-activation."""
  return {"kernel": params["w"], "bias": params["b_h"]}


def decoder_logits(config: AEConfig, params: Params, h: jax.Array) -> jax.Array:
  """Pre-activation of the reconstruction: float32[B, V]."""
  w_dec = params["w_dec"] if "w_dec" in params else params["w"].T
  return h @ w_dec + params["b_v"]


def reconstruct(config: AEConfig, params: Params, x: jax.Array) -> jax.Array:
  """x̂ for (uncorrupted) x: float32[B, V]."""
  logits = decoder_logits(config, params, encode(params, x, config.activation))
  return jax.nn.sigmoid(logits) if config.output == "sigmoid" else logits


def corrupt(config: AEConfig, x: jax.Array, key: jax.Array) -> jax.Array:
  """x̃: masking noise zeroes each entry with probability noise_level; Gaussian noise adds N(0, level²)."""
  if config.noise == "mask" and config.noise_level > 0:
    keep = jax.random.uniform(key, x.shape, x.dtype) >= config.noise_level
    return jnp.where(keep, x, jnp.zeros_like(x))
  if config.noise == "gaussian" and config.noise_level > 0:
    return x + config.noise_level * jax.random.normal(key, x.shape, x.dtype)
  return x


def per_example_loss(config: AEConfig, params: Params, x: jax.Array, x_in: jax.Array) -> jax.Array:
  """Reconstruction loss of target x from input x_in (x̃ for a denoising AE): float32[B], summed over visibles."""
  logits = decoder_logits(config, params, encode(params, x_in, config.activation))
  if config.loss == "bce":
    # -[x log σ(z) + (1-x) log(1-σ(z))] from the logits, stable for saturated units
    return jnp.sum(optax.sigmoid_binary_cross_entropy(logits, x), axis=-1)
  out = jax.nn.sigmoid(logits) if config.output == "sigmoid" else logits
  return jnp.sum(jnp.square(out - x), axis=-1)


def _weights_l2(params: Params) -> jax.Array:
  return sum(jnp.sum(jnp.square(params[k])) for k in ("w", "w_dec") if k in params)


def _train_step(state: AETrainState, batch: jax.Array, key: jax.Array) -> tuple[AETrainState, dict[str, jax.Array]]:
  config, tc = state.config, state.train
  x_in = corrupt(config, batch, key)

  def objective(params):
    losses = per_example_loss(config, params, batch, x_in)
    total = jnp.mean(losses)
    if tc.weight_decay:
      total = total + 0.5 * tc.weight_decay * _weights_l2(params)
    return total, losses

  (_, losses), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
  updates, opt_state = make_optimizer(tc).update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"loss_sum": jnp.sum(losses), "count": jnp.asarray(batch.shape[0], jnp.float32)}
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


@functools.partial(jax.jit, donate_argnums=0)
def ae_train_step(state: AETrainState, batch: jax.Array, key: jax.Array) -> tuple[AETrainState, dict[str, jax.Array]]:
  """One gradient step on the mean loss of batch: float32[B, V]; key draws the corruption. The state is donated.

  metrics: 'loss_sum' (per-example reconstruction loss summed over the batch, without the weight penalty)
  and 'count' (examples).
  """
  return _train_step(state, batch, key)


@functools.partial(jax.jit, static_argnames=("batch_size", "shuffle"), donate_argnums=0)
def train_epoch(state: AETrainState, data: jax.Array, key: jax.Array, *, batch_size: int,
                shuffle: bool = True) -> tuple[AETrainState, dict[str, jax.Array]]:
  """One pass over data: float32[N, V] as one jitted `lax.scan` (see epochs.scan_minibatches)."""
  return scan_minibatches(_train_step, state, data, key, batch_size=batch_size, shuffle=shuffle)


def train_epochs(state: AETrainState, data: jax.Array, key: jax.Array, *, num_epochs: int, batch_size: int,
                 shuffle: bool = True,
                 on_epoch_end: Callable[[int, AETrainState, dict[str, float]], None] | None = None,
                 ) -> tuple[AETrainState, list[dict[str, float]]]:
  """`num_epochs` epochs; epoch e uses fold_in(key, e). Returns the state and per-epoch {'loss': mean}."""
  return run_epochs(train_epoch, state, data, key, num_epochs=num_epochs, batch_size=batch_size, shuffle=shuffle,
                    on_epoch_end=on_epoch_end, what="autoencoder")
