"""Per-layer training diagnostics (the vanishing-gradient picture), computed at log steps.

For every top-level parameter module (e.g. `hidden_0 … hidden_{L-1}`, `head`):
  grad_norm/<m>     ‖∂loss/∂θ_m‖₂ on the current batch
  update_ratio/<m>  ‖Δθ_m‖₂ / ‖θ_m‖₂ of the update the optimizer would apply
and for every activation the model sows into `intermediates` (MLP: `act_i` after hidden layer i):
  act_mean/<i>, act_std/<i>, saturation/<i>: the fraction of units whose local derivative is below
  5% of the activation's maximum derivative (sigmoid: a(1−a) < 0.0125; tanh: 1 − a² < 0.05;
  relu/leaky_relu/gelu/softplus: a ≤ 0, i.e. "dead" or leaking units).
"""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


def _saturated(a: jax.Array, activation: str | None) -> jax.Array:
  """1.0 where the activation's local derivative is below 5% of its maximum (see module docstring)."""
  if activation == "sigmoid":
    return (a * (1 - a) < 0.0125).astype(jnp.float32)
  if activation == "tanh":
    return (1 - a * a < 0.05).astype(jnp.float32)
  return (a <= 0).astype(jnp.float32)


def _norm(tree: Any) -> jax.Array:
  return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))


def make_diagnostics_fn(model: nn.Module, task: Any, tx: optax.GradientTransformation,
                        mutable: Sequence[str]) -> Callable[[Any, dict[str, jax.Array]], dict[str, jax.Array]]:
  """Returns jitted fn(state, batch) -> {name: float32[]} (see module docstring)."""
  activation = getattr(model, "activation", None)

  def diagnostics(state, batch):
    rngs = {"dropout": jax.random.fold_in(state.rng, state.step), "noise": jax.random.fold_in(state.rng, 2**31 - 1)}

    def loss_fn(params):
      variables = {"params": params, **state.model_state}
      loss, _, _ = task.loss_and_metrics(model, variables, batch, train=True, rngs=rngs, mutable=mutable)
      return loss

    grads = jax.grad(loss_fn)(state.params)
    updates, _ = tx.update(grads, state.opt_state, state.params)
    out = {}
    for name in state.params:
      out[f"grad_norm/{name}"] = _norm(grads[name])
      out[f"update_ratio/{name}"] = _norm(updates[name]) / jnp.maximum(_norm(state.params[name]), 1e-12)
    variables = {"params": state.params, **state.model_state}
    inputs = task.init_args(batch)
    _, inter = model.apply(variables, *inputs, train=False, mutable=["intermediates"])
    mask = batch["mask"].astype(jnp.float32)
    for key, values in inter.get("intermediates", {}).items():
      a = (values[0] if isinstance(values, tuple) else values).astype(jnp.float32)
      w = jnp.broadcast_to(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a.shape)  # padding rows weigh 0
      n = jnp.maximum(w.sum(), 1.0)
      mean = (a * w).sum() / n
      layer = key.split("_")[-1]
      out[f"act_mean/{layer}"] = mean
      out[f"act_std/{layer}"] = jnp.sqrt((jnp.square(a - mean) * w).sum() / n)
      out[f"saturation/{layer}"] = (_saturated(a, activation) * w).sum() / n
    return out

  return jax.jit(diagnostics)


def _layer_key(name: str) -> tuple[int, str]:
  m = re.search(r"(\d+)$", name)
  return (int(m.group(1)) if m else 10**6, name)


def plot_gradient_norms(rows: Sequence[dict[str, Any]], path: str, title: str = "") -> str | None:
  """One line per layer: gradient norm over training steps (log scale). Returns the file or None."""
  series: dict[str, dict[int, float]] = collections.defaultdict(dict)
  for r in rows:
    if r.get("split") != "diagnostics":
      continue
    for k, v in r.items():
      if k.startswith("grad_norm/"):
        series[k.split("/", 1)[1]][r["step"]] = v
  if not series:
    return None
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for layer in sorted(series, key=_layer_key):
    steps = sorted(series[layer])
    ax.plot(steps, [series[layer][s] for s in steps], label=layer)
  ax.set_yscale("log")
  ax.set_xlabel("step")
  ax.set_ylabel("gradient norm")
  ax.set_title(title or "per-layer gradient norm")
  ax.legend(fontsize=7)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
