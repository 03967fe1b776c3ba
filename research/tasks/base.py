"""The Task protocol: how a model is called on a batch, its loss, and its metrics.

A task is built from (config, dataset info) and provides
  `init_args(batch) -> tuple`: positional inputs for `model.init` (shapes only matter), and
  `loss_and_metrics(model, variables, batch, *, train, rngs, mutable) -> (loss, metrics, new_state)`
where `loss` is the scalar that is differentiated (a mean over real examples), `metrics` maps names
to float32[2] (sum, count) pairs (see research/evaluation/metrics.py) and `new_state` holds updated mutable
collections (e.g. batch statistics; empty when nothing is mutable).

Optional hooks the Trainer calls when a task defines them:
  `check_workdir(path)`: read-only check before anything is written (e.g. saved vocabulary matches);
  `prepare_workdir(path)`: write task files into the workdir (process 0, after the lock is taken);
  `evaluate_extra(model, variables, split_name, source, config) -> dict[str, float]`: metrics that need
    more than one forward pass (e.g. decode with beam search and score BLEU), merged into evaluation;
  `example_outputs(model, variables, batch) -> dict[str, Array[B]]`: per-example evaluation-mode outputs
    (e.g. label, prediction, correct, nll), computed in the evaluation step and written, real rows only, to
    WORKDIR/examples/<split>.jsonl (research/evaluation/outputs.py) for bootstrap CIs and paired tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import flax.linen as nn
import jax
from ml_collections import ConfigDict

Batch = dict[str, jax.Array]


class Task(Protocol):
  """What the Trainer needs from a task (registered as `registry.tasks`, built as `Task(config, info)`)."""

  def __init__(self, config: ConfigDict, info: dict[str, Any]) -> None: ...

  def init_args(self, batch: Batch) -> tuple[jax.Array, ...]: ...

  def loss_and_metrics(self, model: nn.Module, variables: dict[str, Any], batch: Batch, *, train: bool,
                       rngs: dict[str, jax.Array] | None, mutable: Sequence[str] = ()
                       ) -> tuple[jax.Array, dict[str, jax.Array], dict[str, Any]]: ...


def apply_model(model: nn.Module, variables: dict[str, Any], *inputs: jax.Array, train: bool,
                rngs: dict[str, jax.Array] | None, mutable: Sequence[str]) -> tuple[Any, dict[str, Any]]:
  """model.apply that always returns (outputs, updated mutable collections)."""
  if mutable:
    return model.apply(variables, *inputs, train=train, rngs=rngs, mutable=list(mutable))
  return model.apply(variables, *inputs, train=train, rngs=rngs), {}
