"""Metrics as (sum, count) pairs accumulated on device.

Every metric is a float32[2] array `[total, count]`. Steps return them summed over the real
(mask == 1) examples or tokens, the loop adds them up on device, and the host divides only at log
time — so padding never biases an average and there is no host round trip per step.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

Metrics = dict[str, jax.Array]


def metric(total: jax.Array, count: jax.Array | float) -> jax.Array:
  """Packs a summed value and its denominator into the float32[2] metric format."""
  return jnp.stack([jnp.asarray(total, jnp.float32).sum(), jnp.asarray(count, jnp.float32).sum()])


def mean_metric(values: jax.Array, mask: jax.Array) -> jax.Array:
  """values, mask: float32[...] of the same shape → metric averaging `values` over mask == 1."""
  mask = mask.astype(jnp.float32)
  return metric((values.astype(jnp.float32) * mask).sum(), mask.sum())


def merge(a: Mapping[str, jax.Array], b: Mapping[str, jax.Array]) -> Metrics:
  """Adds two metric dicts (keys of either; a missing key counts as zero)."""
  out = dict(a)
  for k, v in b.items():
    out[k] = out[k] + v if k in out else v
  return out


def zeros_like(metrics: Mapping[str, jax.Array]) -> Metrics:
  return {k: jnp.zeros_like(v) for k, v in metrics.items()}


def compute(metrics: Mapping[str, jax.Array | np.ndarray]) -> dict[str, float]:
  """Fetches (one transfer) and divides: {name: total / count}; metrics with count 0 are left out."""
  host = jax.device_get(dict(metrics))
  out = {}
  for k, v in host.items():
    v = np.asarray(v, np.float64)
    if v.shape == (2,) and v[1] > 0:
      out[k] = float(v[0] / v[1])
  return out
