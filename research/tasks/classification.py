"""Task 'classification': images or feature vectors → class labels (cross-entropy, accuracy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

from research import registry
from research.evaluation.metrics import mean_metric
from research.tasks.base import Batch, apply_model
from research.tasks.losses import classification_outputs


@registry.tasks.register("classification")
class ClassificationTask:
  """batch: image uint8[B, ...] (or features float[B, ...]), label int[B], mask float32[B].

  Images are scaled to [0, 1] on device (uint8 is 4× cheaper to transfer than float32).
  Metrics: loss (cross-entropy) and accuracy, averaged over mask == 1. Per-example outputs (label,
  prediction, correct, nll) go to WORKDIR/examples/<split>.jsonl at every evaluation.
  """

  def __init__(self, config: ConfigDict, info: dict[str, Any]):
    self.input_key = config.get("input_key", "image")
    self.scale = 1.0 / float(info.get("max_value", 1.0))

  def inputs(self, batch: Batch) -> jax.Array:
    x = batch[self.input_key]
    return x.astype(jnp.float32) * self.scale

  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]:
    return (self.inputs(batch),)

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()):
    logits, new_state = apply_model(model, variables, self.inputs(batch), train=train, rngs=rngs, mutable=mutable)
    labels = batch["label"].astype(jnp.int32)
    mask = batch["mask"]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    loss = (ce * mask).sum() / jnp.maximum(mask.sum(), 1.0)
    metrics = {
        "loss": mean_metric(ce, mask),
        "accuracy": mean_metric((logits.argmax(-1) == labels).astype(jnp.float32), mask),
    }
    return loss, metrics, new_state

  def example_outputs(self, model: nn.Module, variables: dict[str, Any], batch: Batch) -> dict[str, jax.Array]:
    """Evaluation-mode per-example outputs, each [B] (research.tasks.losses.classification_outputs)."""
    logits, _ = apply_model(model, variables, self.inputs(batch), train=False, rngs=None, mutable=())
    return classification_outputs(logits, batch["label"])
