"""Optimizers and learning-rate schedules, looked up by name from `config.optimizer`.

config.optimizer fields: name, learning_rate, schedule, warmup_steps, decay_steps, decay_rate,
momentum, b1, b2, eps, weight_decay, weight_decay_mask, grad_clip_norm. Unused fields are ignored by an optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

from research import registry
from research.errors import UserError


@registry.schedules.register("constant")
def constant(cfg: ConfigDict, total_steps: int) -> optax.Schedule:
  return optax.constant_schedule(cfg.learning_rate)


@registry.schedules.register("step")
def step_decay(cfg: ConfigDict, total_steps: int) -> optax.Schedule:
  """Multiplies the rate by `decay_rate` every `decay_steps` steps."""
  return optax.exponential_decay(cfg.learning_rate, cfg.decay_steps, cfg.decay_rate, staircase=True)


@registry.schedules.register("warmup_cosine")
def warmup_cosine(cfg: ConfigDict, total_steps: int) -> optax.Schedule:
  return optax.warmup_cosine_decay_schedule(
      0.0, cfg.learning_rate, cfg.warmup_steps, max(total_steps, cfg.warmup_steps + 1), end_value=0.0)


@registry.schedules.register("warmup_rsqrt")
def warmup_rsqrt(cfg: ConfigDict, total_steps: int) -> optax.Schedule:
  """Linear warmup to `learning_rate`, then ∝ 1/sqrt(step) (the Transformer schedule, peak-normalized)."""
  warmup = max(int(cfg.warmup_steps), 1)

  def schedule(step):
    step = jnp.maximum(step, 1).astype(jnp.float32)
    return cfg.learning_rate * jnp.minimum(step / warmup, jnp.sqrt(warmup / step))
  return schedule


@registry.optimizers.register("sgd")
def sgd(cfg: ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
  return optax.sgd(lr)


@registry.optimizers.register("momentum")
def momentum(cfg: ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
  return optax.sgd(lr, momentum=cfg.momentum)


@registry.optimizers.register("nesterov")
def nesterov(cfg: ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
  return optax.sgd(lr, momentum=cfg.momentum, nesterov=True)


@registry.optimizers.register("adagrad")
def adagrad(cfg: ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
  return optax.adagrad(lr, eps=cfg.eps)


@registry.optimizers.register("rmsprop")
def rmsprop(cfg: ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
  return optax.rmsprop(lr, eps=cfg.eps, momentum=cfg.momentum)


@registry.optimizers.register("adam")
def adam(cfg: ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
  return optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)


# Flax names a Dense/attention weight matrix `kernel` and an Embed table `embedding`; biases, LayerNorm/BatchNorm
# `scale` and `bias`, and free vectors such as BERT's `mlm_bias` have other names.
DECAYED_LEAF_NAMES = ("kernel", "embedding")


def weight_decay_mask(cfg: ConfigDict) -> Callable[[Any], Any] | None:
  """config.optimizer.weight_decay_mask → optax's `mask` argument (None: decay every parameter).

  'weights' decays only the leaves named in DECAYED_LEAF_NAMES, as BERT (Devlin et al. 2019) and its reference
  implementations do: shrinking a bias or a normalization scale towards 0 is not a penalty on the function's
  complexity. Chosen by name, not by ndim: attention biases are [heads, head_dim] matrices.
  """
  kind = cfg.get("weight_decay_mask", "weights")
  if kind == "all":
    return None
  if kind != "weights":
    raise UserError(f"config.optimizer.weight_decay_mask={kind!r} is unknown; use 'weights' (kernels and "
                    "embeddings only) or 'all'")

  def mask(params: Any) -> Any:
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[-1], "key", None) in DECAYED_LEAF_NAMES, params)
  return mask


@registry.optimizers.register("adamw")
def adamw(cfg: ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
  # Decoupled weight decay (Loshchilov & Hutter), not an L2 loss term.
  return optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay,
                     mask=weight_decay_mask(cfg))


def make_optimizer(cfg: ConfigDict, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """config.optimizer → (gradient transformation incl. clipping, the schedule for logging)."""
  if cfg.learning_rate <= 0:
    raise UserError(f"config.optimizer.learning_rate={cfg.learning_rate} must be > 0")
  schedule = registry.schedules.get(cfg.schedule)(cfg, total_steps)
  tx = registry.optimizers.get(cfg.name)(cfg, schedule)
  if cfg.get("grad_clip_norm"):
    tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
  return tx, schedule
