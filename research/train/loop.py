"""The one supervised training loop: `train_and_evaluate(config, workdir)`.

Order of a run (resume logic lives only here):
  1. validate the config, build dataset, model, task and mesh — nothing is written yet, so a bad
     config or missing data leaves an existing workdir untouched;
  2. check WORKDIR/config.json against the config, take WORKDIR/.lock, write config.json;
  3. restore the newest readable checkpoint (state + data position), else initialize from the seed;
  4. loop: jitted `train_step` (state donated), metrics summed on device and fetched only at log
     steps, evaluation every `eval_every_steps` and at the end, checkpoints every
     `checkpoint_every_steps` and at the end — never of a state that saw a non-finite loss. With
     `steps_per_call` = n > 1, n steps of equal-shaped batches run in one jitted `lax.scan` (the same
     updates, bit for bit), each call ending at the next log/eval/checkpoint step;
  5. write plots and results.md, release the lock.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from ml_collections import ConfigDict

from research import registry
from research.data import get_dataset
from research.data.base import ArraySource, Dataset, Source
from research.data.pipeline import BatchStream, iterate
from research.errors import NonFiniteError, UserError
from research.evaluation import metrics as metrics_lib
from research.evaluation.outputs import write_examples
from research.train import faults, pretraining_stage, sharding
from research.train.checkpoint import Checkpointer, abstract
from research.train.diagnostics import make_diagnostics_fn, plot_gradient_norms
from research.train.metric_writers import (
  MetricWriter,
  markdown_table,
  plot_learning_curves,
  read_metrics,
  write_results,
)
from research.train.optim import make_optimizer
from research.train.workdir import Workdir


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training; a pytree, so it is jitted, sharded and checkpointed whole.

  step: int32[] number of updates applied.  rng: uint32[2] base key; per-step keys are fold_in(rng, step).
  model_state: mutable collections other than params (e.g. {'batch_stats': ...}), {} when none.
  """

  step: jax.Array
  params: Any
  opt_state: Any
  model_state: Any
  rng: jax.Array
  ema_params: Any = None   # exponential moving average of params (config.ema_decay > 0), used for evaluation
  loss_scale: Any = None   # {'scale', 'good_steps', 'period'} for float16 dynamic loss scaling, else None

  def with_params(self, params: Any, tx: optax.GradientTransformation) -> TrainState:
    """This state started afresh from `params` (fine-tuning, warm start, layer-wise pretraining): the optimizer
    state re-initialized for them and, when EMA is on, the average restarted at them (an average that still
    held the random init would be evaluated instead of the loaded weights). The average gets its own buffers:
    `astype` of a float32 array is the array itself, and the train step donates params and EMA separately."""
    ema = (jax.tree.map(lambda p: jnp.array(p, dtype=jnp.float32, copy=True), params)
           if self.ema_params is not None else None)
    return self.replace(params=params, opt_state=tx.init(params), ema_params=ema)


# ----------------------------------------------------------------------------------------------
# Building blocks shared by every trainer.


def build_model(config: ConfigDict, info: dict[str, Any]) -> nn.Module:
  """config.model_name/config.model → module. Fields the model declares but the config leaves out
  are filled from the dataset info (num_classes, vocab_size, …) and from config.dtype/param_dtype."""
  cls = registry.models.get(config.model_name)
  fields = {f.name for f in dataclasses.fields(cls)} - {"parent", "name"}
  kwargs = dict(config.model.to_dict()) if config.get("model") is not None else {}
  unknown = sorted(set(kwargs) - fields)
  if unknown:
    raise UserError(f"model {config.model_name!r} has no field {unknown[0]!r} (config.model.{unknown[0]}); "
                    f"its fields: {', '.join(sorted(fields))}")
  for key, value in info.items():
    if key in fields and key not in kwargs:
      kwargs[key] = value
  for key in ("dtype", "param_dtype"):
    if key in fields and config.get(key):
      kwargs[key] = jnp.dtype(config[key])
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
  try:
    return cls(**kwargs)
  except (TypeError, ValueError) as e:
    raise UserError(f"cannot build model {config.model_name!r} from config.model: {e}") from None


TRAIN_SUBSET = "train_subset"  # the evaluation split that is the training examples themselves (load_splits)


def load_splits(config: ConfigDict, dataset: Dataset) -> tuple[Source, dict[str, Source]]:
  """(train source, {eval split name: source}), applying train_fraction, validation_fraction, train_examples.

  Both subsets come from one fixed permutation (seed `config.dataset.subset_seed`), so the same
  fraction always selects the same examples whatever the training seed. The evaluation split name
  `train_subset` means exactly the examples trained on (after the fractions), evaluated like any
  other split (dropout and noise off): the training accuracy an overfitting study compares with test.
  """
  dcfg = config.dataset
  train = dataset.split(dcfg.train_split)
  evals = {}
  val_fraction = float(dcfg.get("validation_fraction", 0.0))
  fraction = float(dcfg.get("train_fraction", 1.0))
  examples = int(dcfg.get("train_examples", 0) or 0)
  if not 0.0 < fraction <= 1.0:
    raise UserError(f"config.dataset.train_fraction={fraction} must be in (0, 1]")
  if not 0.0 <= val_fraction < 1.0:
    raise UserError(f"config.dataset.validation_fraction={val_fraction} must be in [0, 1)")
  if examples < 0:
    raise UserError(f"config.dataset.train_examples={examples} must be >= 0 (0: all)")
  if fraction < 1.0 or val_fraction > 0.0 or examples:
    if not isinstance(train, ArraySource):
      raise UserError("train_fraction/validation_fraction/train_examples need an in-memory dataset split")
    perm = _subset_permutation(dcfg, len(train))
    n_val = int(round(val_fraction * len(train)))
    if n_val:
      evals["validation"] = train.take(np.sort(perm[:n_val]))
    rest = perm[n_val:]
    keep = max(1, int(round(fraction * len(rest))))
    if examples > keep:
      raise UserError(f"config.dataset.train_examples={examples} is more than the {keep} training examples there "
                      "are; lower it or set it to 0 (all)")
    # A prefix of the one fixed permutation: the 100 examples of a 100-label run are among the 300 of a 300 one.
    train = train.take(np.sort(rest[:examples or keep]))
  for name in dcfg.eval_splits:
    if name == TRAIN_SUBSET:
      evals[name] = train
    elif name not in evals:
      evals[name] = dataset.split(name)
  if len(train) == 0:
    raise UserError(f"the train split {dcfg.train_split!r} is empty; check config.dataset")
  return train, evals


def _subset_permutation(dcfg: ConfigDict, n: int) -> np.ndarray:
  return np.random.default_rng(int(dcfg.get("subset_seed", 0))).permutation(n)


def unlabeled_pool(config: ConfigDict, dataset: Dataset) -> Source:
  """Every example of the train split except the carved-out validation examples, before train_fraction and
  train_examples: what semi-supervised layer-wise pretraining may read (`config.pretrain.data='train_split'`)
  without seeing an example that model selection or evaluation uses. A superset of load_splits' train source."""
  dcfg = config.dataset
  train = dataset.split(dcfg.train_split)
  n_val = int(round(float(dcfg.get("validation_fraction", 0.0)) * len(train)))
  if not n_val:
    return train
  if not isinstance(train, ArraySource):
    raise UserError("validation_fraction needs an in-memory dataset split")
  return train.take(np.sort(_subset_permutation(dcfg, len(train))[n_val:]))


def total_train_steps(config: ConfigDict, num_train_examples: int) -> int:
  """Training length given in steps (config.num_train_steps > 0) or in epochs (config.num_epochs)."""
  if config.num_train_steps and config.num_train_steps > 0:
    return int(config.num_train_steps)
  if not config.num_epochs or config.num_epochs <= 0:
    raise UserError("set config.num_train_steps > 0 or config.num_epochs > 0")
  return max(1, math.ceil(config.num_epochs * num_train_examples / config.batch_size))


def weight_penalty(params: Any, l1: float, l2: float) -> jax.Array:
  """l1·Σ|w| + l2/2·Σw² over kernels only (biases and norm scales are not penalized)."""
  total = jnp.zeros((), jnp.float32)
  if not (l1 or l2):
    return total
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if getattr(path[-1], "key", None) == "kernel":
      w = leaf.astype(jnp.float32)
      total = total + l1 * jnp.abs(w).sum() + 0.5 * l2 * jnp.square(w).sum()
  return total


def apply_max_norm(params: Any, limit: float) -> Any:
  """Max-norm constraint (Srebro et al.; used with dropout by Hinton et al. 2012): each kernel's
  columns — one unit's incoming weights — are rescaled to L2 norm ≤ limit."""
  def clip(path, leaf):
    if getattr(path[-1], "key", None) != "kernel" or leaf.ndim < 2:
      return leaf
    norms = jnp.sqrt(jnp.sum(jnp.square(leaf), axis=tuple(range(leaf.ndim - 1)), keepdims=True))
    return leaf * jnp.minimum(1.0, limit / jnp.maximum(norms, 1e-12))
  return jax.tree_util.tree_map_with_path(clip, params)


def validate_config(config: ConfigDict) -> None:
  """Range checks the type system of ConfigDict cannot express. One clear line per problem."""
  def positive(name: str, value: Any) -> None:
    if value is None or value <= 0:
      raise UserError(f"config.{name}={value} must be > 0")
  positive("batch_size", config.batch_size)
  positive("eval_batch_size", config.eval_batch_size)
  positive("log_every_steps", config.log_every_steps)
  positive("checkpoint_every_steps", config.checkpoint_every_steps)
  positive("keep_checkpoints", config.keep_checkpoints)
  if config.get("l1_penalty", 0) < 0 or config.get("l2_penalty", 0) < 0:
    raise UserError("config.l1_penalty and config.l2_penalty must be >= 0")
  model = config.get("model") or {}
  rates = model.get("dropout_rate", 0.0)
  for rate in (rates if isinstance(rates, (list, tuple)) else [rates]) + [model.get("input_dropout_rate", 0.0)]:
    if not 0.0 <= float(rate) < 1.0:
      raise UserError(f"dropout rate {rate} in config.model must be in [0, 1)")
  accum = config.get("grad_accum_steps", 1)
  if accum < 1 or config.batch_size % accum:
    raise UserError(f"config.grad_accum_steps={accum} must be >= 1 and divide config.batch_size={config.batch_size}")
  steps_per_call = config.get("steps_per_call", 1)
  if not isinstance(steps_per_call, int) or steps_per_call < 1:
    raise UserError(f"config.steps_per_call={steps_per_call!r} must be an integer >= 1")
  if not 0.0 <= config.get("ema_decay", 0.0) < 1.0:
    raise UserError(f"config.ema_decay={config.ema_decay} must be in [0, 1)")
  for key in ("dtype", "param_dtype"):
    if config.get(key, "float32") not in ("float32", "bfloat16", "float16"):
      raise UserError(f"config.{key}={config[key]!r} must be float32, bfloat16 or float16")
  es = config.get("early_stopping") or {}
  if es.get("patience", 0) < 0 or es.get("mode", "max") not in ("max", "min"):
    raise UserError("config.early_stopping.patience must be >= 0 and mode 'max' or 'min'")
  if es.get("patience", 0) > 0 and not (config.get("eval_every_steps", -1) or 0) > 0:
    raise UserError("config.early_stopping needs config.eval_every_steps > 0 (it decides at evaluations)")
  if config.get("max_norm", 0.0) < 0:
    raise UserError(f"config.max_norm={config.max_norm} must be >= 0")
  pretraining_stage.validate(config)
  if config.get("mode", "train") not in ("train", "evaluate"):
    raise UserError(f"config.mode={config.mode!r} must be 'train' or 'evaluate'")


# ----------------------------------------------------------------------------------------------
# Pure steps.


def make_steps(model: nn.Module, task: Any, tx: optax.GradientTransformation, config: ConfigDict,
               mutable: Sequence[str]) -> tuple[Callable, Callable, Callable]:
  """Returns (train_step, eval_step, step_metrics_shape).

  train_step(state, batch, acc) -> (state, acc): one update; acc = {'metrics': {...}, 'bad_step': int32[]}
    accumulates (sum, count) metrics and remembers the first step whose loss or gradients were not finite.
    With config.grad_accum_steps = N the batch is split into N micro-batches inside the step (a lax.scan),
    whose gradients are averaged weighted by their real-example counts — the same update as one batch.
  eval_step(state, batch, acc) -> acc: metrics of the model in evaluation mode (EMA parameters when kept).
  """
  l1, l2 = float(config.get("l1_penalty", 0.0)), float(config.get("l2_penalty", 0.0))
  accum = int(config.get("grad_accum_steps", 1))
  ema_decay = float(config.get("ema_decay", 0.0))
  max_norm = float(config.get("max_norm", 0.0))

  def grads_of(params, model_state, batch, rngs, scale):
    def loss_fn(params):
      variables = {"params": params, **model_state}
      loss, metrics, new_model_state = task.loss_and_metrics(
          model, variables, batch, train=True, rngs=rngs, mutable=mutable)
      loss = loss + weight_penalty(params, l1, l2)
      return loss * scale, (loss, metrics, new_model_state)

    (_, (loss, metrics, new_model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return loss, metrics, new_model_state, grads

  def per_step(state: TrainState, batch: dict[str, jax.Array]):
    rng = jax.random.fold_in(state.rng, state.step)
    scale = state.loss_scale["scale"] if state.loss_scale is not None else jnp.float32(1.0)

    def rngs_for(i):
      r = jax.random.fold_in(rng, i)
      return {"dropout": jax.random.fold_in(r, 0), "noise": jax.random.fold_in(r, 1)}

    if accum == 1:
      loss, metrics, new_model_state, grads = grads_of(state.params, state.model_state, batch, rngs_for(0), scale)
    else:
      # Micro-batch i takes every accum-th example, so each one stays spread over all data shards.
      micro = jax.tree.map(lambda x: jnp.swapaxes(x.reshape(x.shape[0] // accum, accum, *x.shape[1:]), 0, 1), batch)
      weights = micro["mask"].sum(axis=1) / jnp.maximum(batch["mask"].sum(), 1.0)

      def body(carry, inputs):
        grads_sum, loss_sum, metrics_sum, model_state = carry
        i, mb, w = inputs
        loss, metrics, new_model_state, grads = grads_of(state.params, model_state, mb, rngs_for(i), scale)
        grads_sum = jax.tree.map(lambda a, g: a + w * g, grads_sum, grads)
        return (grads_sum, loss_sum + w * loss, metrics_lib.merge(metrics_sum, metrics),
                {**model_state, **new_model_state}), None

      first = jax.tree.map(lambda x: x[0], micro)
      shapes = jax.eval_shape(lambda: grads_of(state.params, state.model_state, first, rngs_for(0), scale))
      zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), (shapes[3], shapes[1]))
      carry = (zeros[0], jnp.zeros((), jnp.float32), zeros[1], state.model_state)
      (grads, loss, metrics, model_state), _ = jax.lax.scan(body, carry, (jnp.arange(accum), micro, weights))
      new_model_state = model_state

    loss_scale = state.loss_scale
    if loss_scale is not None:
      grads = jax.tree.map(lambda g: g / scale, grads)
    grad_norm = optax.tree.norm(grads)
    grads_finite = jnp.isfinite(grad_norm)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if loss_scale is not None:
      # Dynamic loss scaling (float16): skip the update and halve the scale on overflow; double it
      # after `period` good steps in a row.
      keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(grads_finite, a, b), new, old)  # noqa: E731
      params, opt_state = keep(params, state.params), keep(opt_state, state.opt_state)
      good = jnp.where(grads_finite, loss_scale["good_steps"] + 1, 0)
      grow = good >= loss_scale["period"]
      new_scale = jnp.where(grads_finite, jnp.where(grow, scale * 2.0, scale), jnp.maximum(scale / 2.0, 1.0))
      loss_scale = {"scale": new_scale, "good_steps": jnp.where(grow, 0, good), "period": loss_scale["period"]}
    if max_norm:
      params = apply_max_norm(params, max_norm)
    ema = state.ema_params
    if ema is not None:
      ema = jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p.astype(e.dtype), ema, params)
    metrics = dict(metrics)
    metrics["grad_norm"] = metrics_lib.metric(grad_norm, 1.0)
    if loss_scale is not None:
      metrics["loss_scale"] = metrics_lib.metric(scale, 1.0)
    finite = jnp.isfinite(loss) & (grads_finite | (state.loss_scale is not None))
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              model_state={**state.model_state, **new_model_state},
                              ema_params=ema, loss_scale=loss_scale)
    return new_state, metrics, finite

  def train_step(state: TrainState, batch: dict[str, jax.Array], acc: dict[str, Any]):
    bad_step = acc["bad_step"]
    new_state, metrics, finite = per_step(state, batch)
    bad_step = jnp.where((bad_step < 0) & ~finite, state.step + 1, bad_step)
    return new_state, {"metrics": metrics_lib.merge(acc["metrics"], metrics), "bad_step": bad_step}

  def eval_step(state: TrainState, batch: dict[str, jax.Array], acc: dict[str, jax.Array]):
    params = state.ema_params if state.ema_params is not None else state.params
    variables = {"params": params, **state.model_state}
    _, metrics, _ = task.loss_and_metrics(model, variables, batch, train=False, rngs=None, mutable=())
    return metrics_lib.merge(acc, metrics)

  def step_metrics_shape(state, batch):
    return jax.eval_shape(per_step, state, batch)[1]

  return train_step, eval_step, step_metrics_shape


def make_examples_step(model: nn.Module, task: Any) -> Callable | None:
  """eval_step that also returns the task's per-example outputs ({name: [B]} plus the batch's mask), or None
  when the task has no `example_outputs`. One jitted program: XLA shares the forward pass of both."""
  if not hasattr(task, "example_outputs"):
    return None

  def examples_step(state: TrainState, batch: dict[str, jax.Array], acc: dict[str, jax.Array]):
    params = state.ema_params if state.ema_params is not None else state.params
    variables = {"params": params, **state.model_state}
    _, metrics, _ = task.loss_and_metrics(model, variables, batch, train=False, rngs=None, mutable=())
    outputs = dict(task.example_outputs(model, variables, batch))
    outputs["mask"] = batch["mask"]
    return metrics_lib.merge(acc, metrics), outputs

  return examples_step


# ----------------------------------------------------------------------------------------------
# The loop.


def _same_shapes(batches: list[dict[str, np.ndarray]]) -> bool:
  """Whether the batches can be stacked (padding to each batch's longest sequence makes them differ)."""
  first = {k: np.shape(v) for k, v in batches[0].items()}
  return all({k: np.shape(v) for k, v in b.items()} == first for b in batches[1:])


class Trainer:
  """Holds what a run builds once; `run()` trains (or evaluates) and writes the workdir."""

  def __init__(self, config: ConfigDict, workdir: str, *, allow_config_change: bool = False):
    validate_config(config)
    self.config = config
    self.workdir = Workdir(workdir)
    self.mesh = sharding.make_mesh()
    sharding.check_batch_size(config.batch_size, self.mesh)
    sharding.check_batch_size(config.eval_batch_size, self.mesh, "config.eval_batch_size")
    self.dataset = get_dataset(config.dataset, config.get("data_dir"))
    self.train_source, self.eval_sources = load_splits(config, self.dataset)
    self.model = build_model(config, self.dataset.info)
    self.task = registry.tasks.get(config.task)(config, self.dataset.info)
    self.total_steps = total_train_steps(config, len(self.train_source))
    self.tx, self.schedule = make_optimizer(config.optimizer, self.total_steps)
    self.train_stream = BatchStream(self.train_source, config.batch_size, seed=config.seed, train=True,
                                    collate=self.dataset.collate)
    # Initializing here (not in run) surfaces model errors before anything is written to the workdir.
    self.initial_state = self.init_state()
    self.workdir.check_config(config, allow_change=allow_config_change)
    if hasattr(self.task, "check_workdir"):  # e.g. a saved vocabulary that must match this data (read-only)
      self.task.check_workdir(self.workdir.path)

  # -- state -------------------------------------------------------------------------------------
  def init_state(self) -> TrainState:
    sample = self.train_stream[0]
    init_batch = {k: jnp.asarray(v[:1]) for k, v in sample.items()}
    rng = jax.random.PRNGKey(self.config.seed)
    params_rng, dropout_rng, state_rng = jax.random.split(rng, 3)

    def init(batch):
      variables = self.model.init({"params": params_rng, "dropout": dropout_rng}, *self.task.init_args(batch),
                                  train=False)
      variables = dict(variables)
      params = variables.pop("params")
      variables.pop("intermediates", None)
      ema = (jax.tree.map(lambda p: p.astype(jnp.float32), params)
             if self.config.get("ema_decay", 0.0) > 0 else None)
      loss_scale = ({"scale": jnp.float32(2.0**15), "good_steps": jnp.int32(0), "period": jnp.int32(2000)}
                    if self.config.get("dtype") == "float16" else None)
      return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=self.tx.init(params),
                        model_state=variables, rng=state_rng, ema_params=ema, loss_scale=loss_scale)

    try:
      return jax.jit(init, out_shardings=sharding.replicated(self.mesh))(init_batch)
    except (TypeError, ValueError) as e:  # e.g. a tuple field overridden with a string
      msg = " ".join(str(e).split("\n")[0].split())
      raise UserError(f"cannot initialize model {self.config.model_name!r} from config.model "
                      f"({type(e).__name__}: {msg[:300]}); check the values in config.model") from None

  def compile(self, state: TrainState) -> None:
    self.mutable = tuple(state.model_state.keys())
    train_step, eval_step, step_metrics_shape = make_steps(self.model, self.task, self.tx, self.config, self.mutable)
    repl = sharding.replicated(self.mesh)
    batch_sharding = sharding.data_sharded(self.mesh)
    self.train_step = jax.jit(train_step, in_shardings=(repl, batch_sharding, repl), out_shardings=(repl, repl),
                              donate_argnums=(0, 2))
    self.eval_step = jax.jit(eval_step, in_shardings=(repl, batch_sharding, repl), out_shardings=repl,
                             donate_argnums=(2,))
    examples_step = make_examples_step(self.model, self.task)
    self.examples_step = None if examples_step is None else jax.jit(
        examples_step, in_shardings=(repl, batch_sharding, repl), out_shardings=(repl, repl), donate_argnums=(2,))
    self.steps_per_call = int(self.config.get("steps_per_call", 1))
    self.train_steps = None
    if self.steps_per_call > 1:
      def train_steps(state, batches, acc):
        """steps_per_call train steps over batches stacked on a leading axis: [n, B, ...]."""
        def body(carry, batch):
          return train_step(carry[0], batch, carry[1]), None
        (state, acc), _ = jax.lax.scan(body, (state, acc), batches)
        return state, acc
      self.train_steps = jax.jit(train_steps, in_shardings=(repl, sharding.stacked_data_sharded(self.mesh), repl),
                                 out_shardings=(repl, repl), donate_argnums=(0, 2))
    sample = sharding.to_global(self.train_stream[0], self.mesh)
    self._train_metric_shapes = step_metrics_shape(state, sample)
    self.summary = self.model_summary(state, sample) if self.config.get("model_summary", True) else {}
    self._zeros = jax.jit(self._zeros_like_acc, out_shardings=repl)

  def model_summary(self, state: TrainState, batch: dict[str, Any]) -> dict[str, Any]:
    """Parameters per top-level module; FLOPs, bytes accessed and memory of one compiled train step.

    Uses an ahead-of-time compile of the same step (one extra compile at start-up; turn off with
    config.model_summary=False). FLOPs/bytes come from XLA's cost analysis; memory is what the backend
    reports (CPU reports argument/output/temp sizes; some backends report nothing).
    """
    per_module: dict[str, int] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state.params)[0]:
      top = str(getattr(path[0], "key", path[0]))
      per_module[top] = per_module.get(top, 0) + int(np.prod(leaf.shape))
    out: dict[str, Any] = {"parameters": per_module, "total_parameters": sum(per_module.values())}
    try:
      acc = self._zeros_like_acc()
      compiled = self.train_step.lower(state, batch, acc).compile()
      cost = compiled.cost_analysis()
      cost = cost[0] if isinstance(cost, (list, tuple)) else cost
      if cost:
        out["flops_per_step"] = float(cost.get("flops", float("nan")))
        out["bytes_accessed_per_step"] = float(cost.get("bytes accessed", float("nan")))
      mem = compiled.memory_analysis()
      if mem is not None:
        out["memory_bytes"] = {k: int(getattr(mem, k)) for k in (
            "argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes", "generated_code_size_in_bytes")
            if hasattr(mem, k)}
        peak = getattr(mem, "peak_memory_in_bytes", None)
        out["peak_memory_bytes"] = int(peak) if peak else sum(
            out["memory_bytes"].get(k, 0) for k in ("argument_size_in_bytes", "output_size_in_bytes",
                                                     "temp_size_in_bytes"))
    except Exception as e:  # analysis is best-effort: never block a run on it
      out["analysis_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    if self.workdir.is_writer:
      lines = [f"{k}: {v:,}" for k, v in per_module.items()]
      flops = out.get("flops_per_step")
      print(f"model: {out['total_parameters']:,} parameters ({', '.join(lines)})"
            + (f"; {flops:,.0f} FLOPs/step" if flops == flops and flops is not None else "")
            + (f"; peak memory ≈ {out['peak_memory_bytes'] / 2**20:.1f} MiB" if "peak_memory_bytes" in out else ""),
            flush=True)
    return out

  def _zeros_like_acc(self) -> dict[str, Any]:
    return {"metrics": {k: jnp.zeros(v.shape, v.dtype) for k, v in self._train_metric_shapes.items()},
            "bad_step": -jnp.ones((), jnp.int32)}

  # -- evaluation -----------------------------------------------------------------------------------
  def evaluate(self, state: TrainState, step: int = -1) -> dict[str, dict[str, float]]:
    results = {}
    for name, source in self.eval_sources.items():
      stream = BatchStream(source, self.config.eval_batch_size, train=False, shuffle=False,
                           collate=self.dataset.collate)
      acc, examples = None, []
      for batch in iterate(stream):
        batch = sharding.to_global(batch, self.mesh)
        if acc is None:
          shapes = jax.eval_shape(self.eval_step, state, batch, {})
          acc = jax.device_put({k: np.zeros(v.shape, v.dtype) for k, v in shapes.items()},
                               sharding.replicated(self.mesh))
        if self.examples_step is not None:
          acc, outputs = self.examples_step(state, batch, acc)
          examples.append(outputs)
        else:
          acc = self.eval_step(state, batch, acc)
        faults.maybe_kill("eval", step)
      results[name] = metrics_lib.compute(acc)
      if examples and self.workdir.is_writer:
        self._write_examples(name, examples, int(state.step))
      if hasattr(self.task, "evaluate_extra"):
        # Metrics that need more than a forward pass (decoding + BLEU, …), computed by the task.
        params = state.ema_params if state.ema_params is not None else state.params
        results[name].update(self.task.evaluate_extra(
            self.model, {"params": params, **state.model_state}, name, source, self.config))
    return results

  def _write_examples(self, split: str, outputs: list[dict[str, jax.Array]], step: int) -> None:
    """WORKDIR/examples/<split>.jsonl: the real rows (mask > 0) of the per-example outputs, in evaluation order."""
    columns = {k: np.concatenate([np.asarray(o[k]) for o in outputs]) for k in outputs[0]}
    real = columns.pop("mask") > 0
    write_examples(os.path.join(self.workdir.path, "examples", f"{split}.jsonl"),
                   {k: v[real] for k, v in columns.items()},
                   header={"split": split, "step": int(step), "task": str(self.config.task)})

  # -- the run ------------------------------------------------------------------------------------
  def run(self) -> dict[str, dict[str, float]]:
    self.workdir.acquire()
    try:
      return self._run()
    finally:
      self.workdir.release()

  def _run(self) -> dict[str, dict[str, float]]:
    config = self.config
    checkpointer = Checkpointer(self.workdir.file("checkpoints"), keep=config.keep_checkpoints,
                                every_steps=config.checkpoint_every_steps,
                                async_save=config.get("async_checkpointing", True))
    state = self.initial_state
    restored = checkpointer.restore_latest(abstract(state))
    data_position = 0
    if restored is not None:
      step, state, meta = restored
      data_position = int(meta.get("data_position", step))
      print(f"resumed from {checkpointer.directory}/{step}", flush=True)
    self.workdir.write_config(config)  # only once the checkpoints are known to fit this config
    if hasattr(self.task, "prepare_workdir") and self.workdir.is_writer:
      self.task.prepare_workdir(self.workdir.path)  # e.g. write the vocabulary next to the checkpoints
    self.compile(state)
    writer = MetricWriter(self.workdir.path, self.total_steps)
    try:
      if config.get("mode", "train") == "evaluate":
        if restored is None:
          raise UserError(f"config.mode='evaluate' needs a checkpoint in {checkpointer.directory}; train first")
        self._last_step, self.state = int(jax.device_get(state.step)), state
        final = self.evaluate(state)
      else:
        if restored is None and config.get("pretrain") is not None and config.pretrain.kind != "none":
          pool = (unlabeled_pool(config, self.dataset) if config.pretrain.get("data") == "train_split"
                  else self.train_source)
          state = pretraining_stage.run(self, state, writer, pool)
        state = self._train_loop(state, data_position, checkpointer, writer, meta if restored else {})
        final = self.evaluate(state)
      step = self._last_step
      for split, values in final.items():
        writer.write(step, split, values)
    finally:
      writer.close()
      checkpointer.close()
    self.write_summary(final)
    return final

  def _train_loop(self, state: TrainState, data_position: int, checkpointer: Checkpointer,
                  writer: MetricWriter, meta: dict[str, Any] | None = None) -> TrainState:
    """Trains from `state` to total_steps (or until early stopping); returns the final state.

    With early stopping the returned state is the best one, restored from WORKDIR/best_checkpoint/.
    """
    config = self.config
    step = int(jax.device_get(state.step))
    acc = self._zeros()
    es_cfg = config.get("early_stopping") or {}
    es_on = es_cfg.get("patience", 0) > 0
    es = dict((meta or {}).get("early_stopping") or {"best": None, "best_step": None, "bad_evals": 0,
                                                       "stopped": False})
    best_ckpt = Checkpointer(self.workdir.file("best_checkpoint"), keep=1, async_save=False) if es_on else None
    diagnose = None
    if config.get("diagnostics", False):
      diagnose = make_diagnostics_fn(self.model, self.task, self.tx, self.mutable)
      if step == 0:  # the picture at initialization
        first = sharding.to_global(self.train_stream[data_position], self.mesh)
        writer.write(0, "diagnostics", {k: float(v) for k, v in jax.device_get(diagnose(state, first)).items()},
                     console=False)

    def save_meta() -> dict[str, Any]:
      return {"data_position": data_position, "early_stopping": es}
    log_every, eval_every = config.log_every_steps, config.get("eval_every_steps", -1)
    last_checked = step

    def check_finite(acc: dict[str, Any]) -> None:
      bad = int(jax.device_get(acc["bad_step"]))
      if bad >= 0:
        good = [s for s in checkpointer.all_steps() if s < bad]
        keep = f"; the last good checkpoint is step {max(good)}" if good else ""
        raise NonFiniteError(f"non-finite loss or gradient at step {bad}{keep}; lower "
                             "config.optimizer.learning_rate or set config.optimizer.grad_clip_norm")

    profile_first, profile_last = (tuple(config.get("profile_steps", (-1, -1))) + (-1, -1))[:2]
    profiling = False
    stop = data_position + (0 if es["stopped"] else self.total_steps - step)

    def is_boundary(t: int) -> bool:
      """Whether something happens after step t (log, eval, checkpoint, profile, the end): a call ends there."""
      return (t % log_every == 0 or (eval_every and eval_every > 0 and t % eval_every == 0)
              or checkpointer.should_save(t) or t >= self.total_steps or t + 1 == profile_first or t == profile_last)

    batches = iterate(self.train_stream, start=data_position, stop=stop)
    while True:
      # With steps_per_call = n, up to n steps run in one jitted lax.scan, ending early at the next boundary
      # so that logs, evaluations and checkpoints happen at exactly the steps they would one step at a time.
      calls = 1
      while calls < self.steps_per_call and not is_boundary(step + calls):
        calls += 1
      chunk = list(itertools.islice(batches, calls))
      if not chunk:
        break
      if step + 1 == profile_first and self.workdir.is_writer:
        jax.profiler.start_trace(self.workdir.file("profile"))
        profiling = True
      if len(chunk) == self.steps_per_call > 1 and _same_shapes(chunk):
        stacked = {k: np.stack([b[k] for b in chunk]) for k in chunk[0]}
        state, acc = self.train_steps(state, sharding.to_global(stacked, self.mesh, stacked=True), acc)
      else:  # one step at a time (also for a call cut short, or batches of different shapes)
        for batch in chunk:
          state, acc = self.train_step(state, sharding.to_global(batch, self.mesh), acc)
      batch = chunk[-1]
      for _ in chunk:
        step += 1
        faults.maybe_kill("step", step)  # a kill inside a call loses that call's steps, as a crash would
      if profiling and (step >= profile_last or step == self.total_steps):
        jax.block_until_ready(state)
        jax.profiler.stop_trace()
        profiling = False
        print(f"profile of steps {profile_first}..{step} written to {self.workdir.file('profile')}", flush=True)
      data_position += len(chunk)
      is_last = step == self.total_steps
      if step % log_every == 0 or is_last:
        check_finite(acc)
        values = metrics_lib.compute(acc["metrics"])
        values["learning_rate"] = float(self.schedule(step - 1))
        writer.write(step, "train", values)
        acc = self._zeros()
        last_checked = step
        if diagnose is not None:
          values = jax.device_get(diagnose(state, sharding.to_global(batch, self.mesh)))
          writer.write(step, "diagnostics", {k: float(v) for k, v in values.items()}, console=False)
      if not is_last and eval_every and eval_every > 0 and step % eval_every == 0:
        results = self.evaluate(state, step)
        for split, values in results.items():
          writer.write(step, split, values)
        if es_on:
          self._early_stopping_update(es, es_cfg, results, step, state, best_ckpt)
      if checkpointer.should_save(step) or is_last or es["stopped"]:
        if last_checked != step:
          check_finite(acc)
        checkpointer.save(step, state, save_meta(), force=is_last or es["stopped"])
        faults.maybe_kill("save", step)
      if es["stopped"]:
        print(f"early stopping at step {step}: {es_cfg.metric} on {es_cfg.split} has not improved for "
              f"{es['bad_evals']} evaluations", flush=True)
        break
    checkpointer.wait()
    self._last_step = step
    if es_on and es["best_step"] is not None:
      restored = best_ckpt.restore_latest(abstract(state))
      if restored is None:
        raise UserError(f"early stopping: {best_ckpt.directory} has no readable checkpoint; "
                        "delete the workdir's checkpoints to retrain")
      self._early_stopped_at = step
      self._last_step, state, _ = restored
      print(f"early stopping: restored the best step {self._last_step} "
            f"({es_cfg.metric} on {es_cfg.split} = {es['best']:.4f})", flush=True)
      best_ckpt.close()
    self.state = state
    return state

  def _early_stopping_update(self, es: dict[str, Any], cfg: ConfigDict, results: dict[str, dict[str, float]],
                             step: int, state: TrainState, best_ckpt: Checkpointer) -> None:
    if cfg.split not in results or cfg.metric not in results[cfg.split]:
      raise UserError(f"early stopping watches {cfg.metric!r} on split {cfg.split!r}, which the evaluation does not "
                      f"produce (splits: {', '.join(results)}); set config.dataset.validation_fraction or "
                      "config.early_stopping.split/metric")
    value = results[cfg.split][cfg.metric]
    better = (es["best"] is None or (value > es["best"] + cfg.min_delta if cfg.mode == "max"
                                     else value < es["best"] - cfg.min_delta))
    if better:
      es.update(best=value, best_step=step, bad_evals=0)
      best_ckpt.save(step, state, {"metric": value}, force=True)
      best_ckpt.wait()
    else:
      es["bad_evals"] += 1
      es["stopped"] = es["bad_evals"] >= cfg.patience

  def write_summary(self, final: dict[str, dict[str, float]]) -> None:
    if not self.workdir.is_writer:
      return
    rows = read_metrics(self.workdir.path)
    plot_learning_curves(self.workdir.path, rows)
    if self.config.get("diagnostics", False):
      plot_gradient_norms(rows, self.workdir.file("plots", "gradient_norms.png"))
    names = sorted({k for v in final.values() for k in v})
    table = markdown_table(["split", *names], [[s, *[v.get(n, float("nan")) for n in names]] for s, v in final.items()])
    info = self.summary or {}
    per_module = info.get("parameters", {})
    summary = markdown_table(["module", "parameters"], [*per_module.items(), ("total", sum(per_module.values()))])
    costs = [(k, f"{info[k]:,.0f}") for k in ("flops_per_step", "bytes_accessed_per_step", "peak_memory_bytes")
             if k in info and info[k] == info[k]]
    if costs:
      summary += "\n\n" + markdown_table(["compiled train step", "value"], costs)
    sections = {f"Final evaluation (step {self._last_step})": table}
    if getattr(self, "_early_stopped_at", None) is not None:
      sections["Early stopping"] = (f"Early stopping: training ended at step {self._early_stopped_at}; the table "
                                    f"evaluates the restored best step {self._last_step}.")
    write_results(self.workdir.path, f"{self.config.get('name', self.config.model_name)} — results", {
        **sections,
        "Parameters": summary,
        "Run": (f"dataset `{self.config.dataset.name}`, model `{self.config.model_name}`, "
                f"{self.total_steps} steps of batch {self.config.batch_size}, seed {self.config.seed}, "
                f"{jax.device_count()} {jax.devices()[0].platform} device(s)."),
    })
    print(f"\nResults ({self.workdir.file('results.md')}):\n{table}", flush=True)


@registry.trainers.register("supervised")
def train_and_evaluate(config: ConfigDict, workdir: str, *, allow_config_change: bool = False):
  return Trainer(config, workdir, allow_config_change=allow_config_change).run()
