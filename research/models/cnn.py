"""A small convolutional network: the trunk (conv 3×3 → relu → 2×2 max-pool, per stage) and the
classifier 'cnn' (trunk → mean over positions → dense).

The trunk is shared on purpose. The captioning encoder (research/models/captioning.py) is the same
trunk applied to a whole scene and pooled per grid cell, so a classifier trained on 28×28 Fashion-MNIST
items (`configs/cnn.py`) can initialize it: with two stages a 28-pixel cell maps to a 7×7 patch of
the feature map, exactly what the classifier averages over for one item. The same classifier, kept
fixed, scores the images the text→image model draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from research import registry

Array = jax.Array


class CNNTrunk(nn.Module):
  """x float[B, H, W, C] → features float32[B, H / 2^n, W / 2^n, features[-1]] (n = len(features))."""

  features: Sequence[int] = (16, 32)
  kernel_size: int = 3
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    for i, f in enumerate(self.features):
      x = nn.Conv(f, (self.kernel_size, self.kernel_size), padding="SAME", dtype=self.dtype,
                  param_dtype=self.param_dtype, name=f"conv_{i}")(x)
      x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2), padding="SAME")
    return x.astype(jnp.float32)


@registry.models.register("cnn")
class CNNClassifier(nn.Module):
  """`apply(variables, images float[B, H, W(, C)], train=bool)` → logits float32[B, num_classes].

  Params: {'trunk': CNNTrunk, 'head': Dense}. Inputs are expected in [0, 1].
  """

  num_classes: int
  features: Sequence[int] = (16, 32)
  kernel_size: int = 3
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool = False) -> Array:
    if x.ndim == 3:
      x = x[..., None]
    h = CNNTrunk(tuple(self.features), self.kernel_size, dtype=self.dtype, param_dtype=self.param_dtype,
                 name="trunk")(x)
    h = nn.Dropout(self.dropout_rate)(h.mean(axis=(1, 2)), deterministic=not train)
    return nn.Dense(self.num_classes, param_dtype=self.param_dtype, name="head")(h).astype(jnp.float32)
