"""The minibatch epoch loop shared by the RBM and the autoencoders (pure JAX, no workdir).

One epoch is one jitted `lax.scan` over device-resident data (`scan_minibatches`); `run_epochs` calls it once per
epoch with fold_in(key, epoch) so a resumed run repeats exactly. The Trainer reaches it through
research/train/pretraining_stage.py; the RBM experiments through the 'rbm' trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from research.errors import UserError


def _epoch_indices(num_examples: int, batch_size: int, key: jax.Array, shuffle: bool) -> jax.Array:
  num_batches = num_examples // batch_size
  order = jax.random.permutation(key, num_examples) if shuffle else jnp.arange(num_examples)
  return order[: num_batches * batch_size].reshape(num_batches, batch_size)


def scan_minibatches(step: Callable[[Any, jax.Array, jax.Array], tuple[Any, dict[str, jax.Array]]], state: Any,
                     data: jax.Array, key: jax.Array, *, batch_size: int,
                     shuffle: bool = True) -> tuple[Any, dict[str, jax.Array]]:
  """One epoch of `step(state, batch, key) -> (state, metric sums)` as a single `lax.scan`; call it under jit.

  data: [N, ...] device-resident. The order is drawn on device and each step gathers its B rows, so nothing
  returns to the host until the epoch ends. The last N mod B examples of the order are skipped (a different
  set each epoch when shuffling). Step i gets split(split(key)[1], N // B)[i]. Returns summed metrics.
  """
  k_order, k_steps = jax.random.split(key)
  idx = _epoch_indices(data.shape[0], batch_size, k_order, shuffle)
  step_keys = jax.random.split(k_steps, idx.shape[0])

  def body(carry, xs):
    st, sums = carry
    rows, k = xs
    st, m = step(st, jnp.take(data, rows, axis=0), k)
    return (st, jax.tree.map(jnp.add, sums, m)), None

  _, metric_shapes = jax.eval_shape(step, state, data[:batch_size], key)
  sums = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes)
  (state, sums), _ = jax.lax.scan(body, (state, sums), (idx, step_keys))
  return state, sums


def run_epochs(epoch_fn: Callable[..., tuple[Any, dict[str, Any]]], state: Any, data: jax.Array, key: jax.Array, *,
               num_epochs: int, batch_size: int, shuffle: bool = True,
               on_epoch_end: Callable[[int, Any, dict[str, float]], None] | None = None,
               what: str = "model") -> tuple[Any, list[dict[str, float]]]:
  """The epoch loop shared by the RBM and the autoencoders: epoch e runs
  `epoch_fn(state, data, fold_in(key, e), batch_size=, shuffle=)` and records its metric means."""
  if data.shape[0] < batch_size:
    raise UserError(f"{what} training needs at least batch_size={batch_size} examples, got {data.shape[0]}")
  data = jnp.asarray(data, jnp.float32)
  history = []
  for epoch in range(num_epochs):
    state, sums = epoch_fn(state, data, jax.random.fold_in(key, epoch), batch_size=batch_size, shuffle=shuffle)
    means = summarize(jax.device_get(sums))
    history.append(means)
    if on_epoch_end is not None:
      on_epoch_end(epoch, state, means)
  return state, history


def summarize(sums: dict[str, Any]) -> dict[str, float]:
  """Turns summed metrics (with 'count') into per-example means named without the '_sum' suffix."""
  count = float(sums["count"])
  return {k.removesuffix("_sum"): float(v) / count for k, v in sums.items() if k != "count"}
