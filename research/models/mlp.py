"""A configurable deep MLP (the model of the quickstart and of the deep-nets experiments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import registry

ACTIVATIONS = {
    "sigmoid": nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "leaky_relu": nn.leaky_relu,
    "gelu": nn.gelu,
    "softplus": nn.softplus,
}

INITIALIZERS = {
    "normal": nn.initializers.normal(0.01),  # the "small random weights" of early deep nets
    "lecun": nn.initializers.lecun_normal(),
    "glorot": nn.initializers.glorot_uniform(),
    "he": nn.initializers.he_normal(),
}


@registry.models.register("mlp")
class MLP(nn.Module):
  """inputs: [B, ...] (flattened) → logits float32[B, num_classes].

  Hidden layers are named `hidden_0..hidden_{L-1}` and the output layer `head`, so a pretrained stack
  of {'kernel', 'bias'} can be written into `params['hidden_i']` directly. When `sow_activations` is
  set, each hidden layer's post-activation values are stored in the `intermediates` collection for
  diagnostics.
  """

  num_classes: int
  hidden_sizes: Sequence[int] = (256,)
  activation: str = "relu"
  kernel_init: str = "lecun"
  norm: str = "none"            # "none" | "batch" | "layer"
  dropout_rate: float | Sequence[float] = 0.0  # one rate or one per hidden layer
  input_dropout_rate: float = 0.0
  input_noise_std: float = 0.0  # Gaussian noise added to the inputs in training (the notes' "noise" remedy)
  dtype: Any = jnp.float32        # compute dtype
  param_dtype: Any = jnp.float32

  def __post_init__(self):
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"activation={self.activation!r} is not one of {', '.join(ACTIVATIONS)}")
    if self.kernel_init not in INITIALIZERS:
      raise ValueError(f"kernel_init={self.kernel_init!r} is not one of {', '.join(INITIALIZERS)}")
    if self.norm not in ("none", "batch", "layer"):
      raise ValueError(f"norm={self.norm!r} is not one of none, batch, layer")
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    act = ACTIVATIONS[self.activation]
    init = INITIALIZERS[self.kernel_init]
    rates = (self.dropout_rate if isinstance(self.dropout_rate, Sequence)
             else [self.dropout_rate] * len(self.hidden_sizes))
    x = x.reshape((x.shape[0], -1)).astype(self.dtype)
    if self.input_noise_std and train:
      x = x + self.input_noise_std * jax.random.normal(self.make_rng("noise"), x.shape, self.dtype)
    if self.input_dropout_rate:
      x = nn.Dropout(self.input_dropout_rate, deterministic=not train)(x)
    for i, width in enumerate(self.hidden_sizes):
      x = nn.Dense(width, kernel_init=init, dtype=self.dtype, param_dtype=self.param_dtype, name=f"hidden_{i}")(x)
      if self.norm == "batch":
        x = nn.BatchNorm(use_running_average=not train, dtype=self.dtype, param_dtype=self.param_dtype,
                         name=f"norm_{i}")(x)
      elif self.norm == "layer":
        x = nn.LayerNorm(dtype=self.dtype, param_dtype=self.param_dtype, name=f"norm_{i}")(x)
      x = act(x)
      self.sow("intermediates", f"act_{i}", x)
      if rates[i]:
        x = nn.Dropout(rates[i], deterministic=not train)(x)
    x = nn.Dense(self.num_classes, kernel_init=init, dtype=self.dtype, param_dtype=self.param_dtype, name="head")(x)
    return x.astype(jnp.float32)
