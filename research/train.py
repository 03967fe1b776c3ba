"""The one supervised training loop: `train_and_evaluate(config, workdir)`.

Order of a run (resume logic lives only here):
  1. validate the config, build dataset, model, task and mesh — nothing is written yet, so a bad
     config or missing data leaves an existing workdir untouched;
  2. check WORKDIR/config.json against the config, take WORKDIR/.lock, write config.json;
  3. restore the newest readable checkpoint (state + data position), else initialize from the seed;
  4. loop: jitted `train_step` (state donated), metrics summed on device and fetched only at log
     steps, evaluation every `eval_every_steps` and at the end, checkpoints every
     `checkpoint_every_steps` and at the end — never of a state that saw a non-finite loss;
  5. write plots and results.md, release the lock.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from ml_collections import ConfigDict

from research import metrics as metrics_lib
from research import faults, registry, sharding
from research.checkpoint import Checkpointer, abstract
from research.data import get_dataset
from research.data.base import ArraySource, Dataset, Source
from research.data.pipeline import BatchStream, iterate
from research.errors import NonFiniteError, UserError
from research.metric_writers import MetricWriter, markdown_table, plot_learning_curves, write_results
from research.optim import make_optimizer
from research.workdir import Workdir


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


def load_splits(config: ConfigDict, dataset: Dataset) -> tuple[Source, dict[str, Source]]:
  """(train source, {eval split name: source}), applying train_fraction and validation_fraction.

  Both subsets come from one fixed permutation (seed `config.dataset.subset_seed`), so the same
  fraction always selects the same examples whatever the training seed.
  """
  dcfg = config.dataset
  train = dataset.split(dcfg.train_split)
  evals = {}
  val_fraction = float(dcfg.get("validation_fraction", 0.0))
  fraction = float(dcfg.get("train_fraction", 1.0))
  if not 0.0 < fraction <= 1.0:
    raise UserError(f"config.dataset.train_fraction={fraction} must be in (0, 1]")
  if not 0.0 <= val_fraction < 1.0:
    raise UserError(f"config.dataset.validation_fraction={val_fraction} must be in [0, 1)")
  if fraction < 1.0 or val_fraction > 0.0:
    if not isinstance(train, ArraySource):
      raise UserError("train_fraction/validation_fraction need an in-memory dataset split")
    perm = np.random.default_rng(int(dcfg.get("subset_seed", 0))).permutation(len(train))
    n_val = int(round(val_fraction * len(train)))
    if n_val:
      evals["validation"] = train.take(np.sort(perm[:n_val]))
    rest = perm[n_val:]
    keep = max(1, int(round(fraction * len(rest))))
    train = train.take(np.sort(rest[:keep]))
  for name in dcfg.eval_splits:
    if name not in evals:
      evals[name] = dataset.split(name)
  if len(train) == 0:
    raise UserError(f"the train split {dcfg.train_split!r} is empty; check config.dataset")
  return train, evals


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
  if config.get("mode", "train") not in ("train", "evaluate"):
    raise UserError(f"config.mode={config.mode!r} must be 'train' or 'evaluate'")


# ----------------------------------------------------------------------------------------------
# Pure steps.


def make_steps(model: nn.Module, task: Any, tx: optax.GradientTransformation, config: ConfigDict,
               mutable: Sequence[str]) -> tuple[Callable, Callable, Callable]:
  """Returns (train_step, eval_step, step_metrics_shape).

  train_step(state, batch, acc) -> (state, acc): one update; acc = {'metrics': {...}, 'bad_step': int32[]}
    accumulates (sum, count) metrics and remembers the first step whose loss or gradients were not finite.
  eval_step(state, batch, acc) -> acc: metrics of the model in evaluation mode.
  """
  l1, l2 = float(config.get("l1_penalty", 0.0)), float(config.get("l2_penalty", 0.0))

  def per_step(state: TrainState, batch: dict[str, jax.Array]):
    rng = jax.random.fold_in(state.rng, state.step)
    rngs = {"dropout": jax.random.fold_in(rng, 0), "noise": jax.random.fold_in(rng, 1)}

    def loss_fn(params):
      variables = {"params": params, **state.model_state}
      loss, metrics, new_model_state = task.loss_and_metrics(
          model, variables, batch, train=True, rngs=rngs, mutable=mutable)
      penalty = weight_penalty(params, l1, l2)
      return loss + penalty, (metrics, new_model_state, penalty)

    (loss, (metrics, new_model_state, penalty)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    grad_norm = optax.global_norm(grads)
    metrics = dict(metrics)
    metrics["grad_norm"] = metrics_lib.metric(grad_norm, 1.0)
    if l1 or l2:
      metrics["penalty"] = metrics_lib.metric(penalty, 1.0)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              model_state={**state.model_state, **new_model_state})
    return new_state, metrics, finite

  def train_step(state: TrainState, batch: dict[str, jax.Array], acc: dict[str, Any]):
    bad_step = acc["bad_step"]
    new_state, metrics, finite = per_step(state, batch)
    bad_step = jnp.where((bad_step < 0) & ~finite, state.step + 1, bad_step)
    return new_state, {"metrics": metrics_lib.merge(acc["metrics"], metrics), "bad_step": bad_step}

  def eval_step(state: TrainState, batch: dict[str, jax.Array], acc: dict[str, jax.Array]):
    variables = {"params": state.params, **state.model_state}
    _, metrics, _ = task.loss_and_metrics(model, variables, batch, train=False, rngs=None, mutable=())
    return metrics_lib.merge(acc, metrics)

  def step_metrics_shape(state, batch):
    return jax.eval_shape(per_step, state, batch)[1]

  return train_step, eval_step, step_metrics_shape


# ----------------------------------------------------------------------------------------------
# The loop.


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
      return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=self.tx.init(params),
                        model_state=variables, rng=state_rng)

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
    sample = sharding.to_global(self.train_stream[0], self.mesh)
    self._train_metric_shapes = step_metrics_shape(state, sample)
    self._zeros = jax.jit(lambda: {"metrics": {k: jnp.zeros(v.shape, v.dtype)
                                               for k, v in self._train_metric_shapes.items()},
                                   "bad_step": -jnp.ones((), jnp.int32)}, out_shardings=repl)

  # -- evaluation -----------------------------------------------------------------------------------
  def evaluate(self, state: TrainState, step: int = -1) -> dict[str, dict[str, float]]:
    results = {}
    for name, source in self.eval_sources.items():
      stream = BatchStream(source, self.config.eval_batch_size, train=False, shuffle=False,
                           collate=self.dataset.collate)
      acc = None
      for batch in iterate(stream):
        batch = sharding.to_global(batch, self.mesh)
        if acc is None:
          shapes = jax.eval_shape(self.eval_step, state, batch, {})
          acc = jax.device_put({k: np.zeros(v.shape, v.dtype) for k, v in shapes.items()},
                               sharding.replicated(self.mesh))
        acc = self.eval_step(state, batch, acc)
        faults.maybe_kill("eval", step)
      results[name] = metrics_lib.compute(acc)
    return results

  # -- the run ------------------------------------------------------------------------------------
  def run(self) -> dict[str, dict[str, float]]:
    config = self.config
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
    self.compile(state)
    writer = MetricWriter(self.workdir.path, self.total_steps)
    try:
      if config.get("mode", "train") == "evaluate":
        if restored is None:
          raise UserError(f"config.mode='evaluate' needs a checkpoint in {checkpointer.directory}; train first")
        self._last_step, self.state = int(jax.device_get(state.step)), state
        final = self.evaluate(state)
      else:
        state = self._train_loop(state, data_position, checkpointer, writer)
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
                  writer: MetricWriter) -> TrainState:
    """Trains from `state` to total_steps; returns the final state (checkpointed)."""
    config = self.config
    step = int(jax.device_get(state.step))
    acc = self._zeros()
    log_every, eval_every = config.log_every_steps, config.get("eval_every_steps", -1)
    last_checked = step

    def check_finite(acc: dict[str, Any]) -> None:
      bad = int(jax.device_get(acc["bad_step"]))
      if bad >= 0:
        good = [s for s in checkpointer.all_steps() if s < bad]
        keep = f"; the last good checkpoint is step {max(good)}" if good else ""
        raise NonFiniteError(f"non-finite loss or gradient at step {bad}{keep}; lower "
                             "config.optimizer.learning_rate or set config.optimizer.grad_clip_norm")

    batches = iterate(self.train_stream, start=data_position, stop=data_position + self.total_steps - step)
    for batch in batches:
      state, acc = self.train_step(state, sharding.to_global(batch, self.mesh), acc)
      step += 1
      faults.maybe_kill("step", step)
      data_position += 1
      is_last = step == self.total_steps
      if step % log_every == 0 or is_last:
        check_finite(acc)
        values = metrics_lib.compute(acc["metrics"])
        values["learning_rate"] = float(self.schedule(step - 1))
        writer.write(step, "train", values)
        acc = self._zeros()
        last_checked = step
      if not is_last and eval_every and eval_every > 0 and step % eval_every == 0:
        for split, values in self.evaluate(state, step).items():
          writer.write(step, split, values)
      if checkpointer.should_save(step) or is_last:
        if last_checked != step:
          check_finite(acc)
        checkpointer.save(step, state, {"data_position": data_position}, force=is_last)
        faults.maybe_kill("save", step)
    checkpointer.wait()
    self._last_step = step
    self.state = state
    return state

  def write_summary(self, final: dict[str, dict[str, float]]) -> None:
    if not self.workdir.is_writer:
      return
    plot_learning_curves(self.workdir.path)
    names = sorted({k for v in final.values() for k in v})
    table = markdown_table(["split", *names], [[s, *[v.get(n, float("nan")) for n in names]] for s, v in final.items()])
    params = jax.tree_util.tree_flatten_with_path(self.state.params if hasattr(self, "state") else {})[0]
    per_module: dict[str, int] = {}
    for path, leaf in params:
      top = str(getattr(path[0], "key", path[0]))
      per_module[top] = per_module.get(top, 0) + int(np.prod(leaf.shape))
    summary = markdown_table(["module", "parameters"], [*per_module.items(), ("total", sum(per_module.values()))])
    write_results(self.workdir.path, f"{self.config.get('name', self.config.model_name)} — results", {
        f"Final evaluation (step {self._last_step})": table,
        "Parameters": summary,
        "Run": (f"dataset `{self.config.dataset.name}`, model `{self.config.model_name}`, "
                f"{self.total_steps} steps of batch {self.config.batch_size}, seed {self.config.seed}, "
                f"{jax.device_count()} {jax.devices()[0].platform} device(s)."),
    })
    print(f"\nResults ({self.workdir.file('results.md')}):\n{table}", flush=True)


@registry.trainers.register("supervised")
def train_and_evaluate(config: ConfigDict, workdir: str, *, allow_config_change: bool = False):
  return Trainer(config, workdir, allow_config_change=allow_config_change).run()
