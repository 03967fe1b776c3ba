"""Losses returned as (sum, count) over real positions, so padding never biases an average.

A step reports `sum` and `count`; the mean over a batch, an epoch or several devices is the sum of
sums divided by the sum of counts, exactly the per-token mean whatever the padding or batch split.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from research.errors import UserError

Array = jax.Array


def cross_entropy(logits: Array, targets: Array, mask: Array, label_smoothing: float = 0.0) -> tuple[Array, Array]:
  """Masked (optionally label-smoothed) cross-entropy.

  Args:
    logits: float[..., V] unnormalized scores.
    targets: int[...] class ids.
    mask: bool/float[...] weights; 1 on real tokens, 0 on padding (fractional weights are allowed).
    label_smoothing: ε in [0, 1): the target is (1 − ε)·onehot + ε·uniform(V). The value is the plain
      cross-entropy against that target (no entropy constant subtracted), so with ε > 0 its minimum
      is the target's entropy, not 0.
  Returns:
    (sum over positions of weight · loss, sum of weights), both float32[].
  """
  if not 0.0 <= label_smoothing < 1.0:
    raise UserError(f"label_smoothing={label_smoothing} must be in [0, 1)")
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logp, targets.astype(jnp.int32)[..., None], axis=-1)[..., 0]
  loss = nll if label_smoothing == 0.0 else (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(axis=-1)
  w = mask.astype(jnp.float32)
  # where(), not loss * w: a pad position with an infinite loss (e.g. a -inf logit) would make 0 · inf = nan.
  return jnp.where(w != 0, loss * w, 0.0).sum(), w.sum()


def accuracy(logits: Array, targets: Array, mask: Array) -> tuple[Array, Array]:
  """(number of masked positions where argmax(logits) == target, number of masked positions)."""
  w = mask.astype(jnp.float32)
  return ((logits.argmax(-1) == targets).astype(jnp.float32) * w).sum(), w.sum()


def classification_outputs(logits: Array, labels: Array) -> dict[str, Array]:
  """Per-example outputs of a classifier, float32[B, C] logits and int[B] labels → label, prediction,
  correct (int32 0/1) and nll (float32 nats), each [B]: what reports resample for CIs and paired tests."""
  labels = labels.astype(jnp.int32)
  prediction = logits.argmax(-1).astype(jnp.int32)
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]
  return {"label": labels, "prediction": prediction, "correct": (prediction == labels).astype(jnp.int32),
          "nll": nll}
